"""`img-from-container IMAGE -o disk.img`: a container image becomes a bootable ext4 disk.

Exit codes: 0 ok, 2 usage, 3 not found, 4 authentication, 5 integrity (a digest, size or
DiffID mismatch, or a layer that tries to escape the tree), 1 anything else.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from rootfs_tools import build, pull, sources
from rootfs_tools.blobcache import BlobCache
from rootfs_tools.errors import RootfsToolsError, UsageError
from rootfs_tools.ext4 import Ext4Options, check
from rootfs_tools.manifest import Platform
from rootfs_tools.progress import Mode, Progress
from rootfs_tools.reference import DockerArchive, OciLayout, Reference, Source, parse_source
from rootfs_tools.registry import Settings

UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MACHINES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le"}
CONFIG_NAME = "metalinit/img-from-container.toml"


def _size(text: str) -> int | None:
    if text == "auto":
        return None
    match = re.fullmatch(r"(\d+)([KMGT]?)(?:i?B)?", text.strip().upper())
    if not match:
        raise UsageError(f"--size {text!r}: expected auto or a size like 2G or 512M")
    return int(match[1]) * UNITS[match[2]]


def _percent(text: str) -> float:
    try:
        value = float(text.removesuffix("%"))
    except ValueError:
        raise UsageError(f"--free {text!r}: expected a percentage like 20%") from None
    if not 0 <= value <= 1000:
        raise UsageError("--free must be between 0% and 1000%")
    return value


def _host_platform() -> str:
    return "linux/" + MACHINES.get(platform.machine(), platform.machine())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="img-from-container",
        description="Turn a container image into a bootable ext4 disk image.",
        epilog="IMAGE: a reference (nginx:latest), docker-archive:PATH or oci:DIR[:TAG]. "
        "Exit codes: 0 ok, 2 usage, 3 not found, 4 auth, 5 integrity, 1 other.",
    )
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("-o", "--output", required=True, type=Path, help="the disk image to write")
    p.add_argument("--size", default="auto", help="auto (from the content) or e.g. 2G")
    p.add_argument("--free", default="20%", help="free space to add, of the content (20%%)")
    p.add_argument("--platform", default=_host_platform(), help="OS/ARCH[/VARIANT]")
    p.add_argument("--format", default="raw", choices=("raw", "qcow2"))
    p.add_argument("--label", default="", help="filesystem label")
    p.add_argument("--uuid", default="", help="filesystem UUID")
    p.add_argument("--partition", default="none", choices=("none", "gpt"))
    p.add_argument("--compress", default="", choices=("zst", "gz", "xz"))
    p.add_argument(
        "--writer",
        default="direct",
        choices=("direct", "mkfs"),
        help="direct: write the ext4 image from the layers (default); "
        "mkfs: unpack into a staging tree, then mkfs.ext4 -d (needs fakeroot unprivileged)",
    )
    p.add_argument(
        "--registry-mirror",
        action="append",
        default=[],
        metavar="DOMAIN=URL",
        help="send DOMAIN's pulls to URL (repeatable)",
    )
    p.add_argument("--insecure", action="store_true", help="allow plain http to the registry")
    p.add_argument("--user", default="", metavar="USER:PASSWORD", help="registry credentials")
    p.add_argument("--config", type=Path, help=f"TOML file (default ~/.config/{CONFIG_NAME})")
    p.add_argument("--cache-dir", type=Path, help="blob cache (~/.cache/metalinit/blobs)")
    p.add_argument(
        "--work-dir", type=Path, help="mkfs writer's staging directory (default: beside -o)"
    )
    p.add_argument("-q", "--quiet", action="store_true")
    return p


def _settings(args: argparse.Namespace, domain: str) -> Settings:
    path = args.config
    if path is None:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
        path = Path(base, CONFIG_NAME)
    config: dict[str, object] = {}
    if path.exists() or args.config is not None:
        try:
            config = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise UsageError(f"--config {path}: {err}") from None
    mirrors = {str(k): str(v) for k, v in dict(config.get("mirrors") or {}).items()}  # type: ignore[call-overload]
    for item in args.registry_mirror:
        key, sep, url = item.partition("=")
        if not sep or not re.match(r"https?://", url):
            raise UsageError(f"--registry-mirror {item!r}: expected DOMAIN=http(s)://HOST[:PORT]")
        mirrors[key] = url
    insecure = {str(h) for h in list(config.get("insecure") or [])}  # type: ignore[call-overload]
    if args.insecure:
        insecure.add(domain)
    return Settings(mirrors=mirrors, insecure=frozenset(insecure), user=args.user)


def _resolve(
    args: argparse.Namespace, source: Source, cache: BlobCache, progress: Progress
) -> sources.Resolved:
    settings = _settings(args, source.domain if isinstance(source, Reference) else "")
    wanted = Platform.parse(args.platform)
    if isinstance(source, DockerArchive):
        return sources.from_docker_archive(source, cache)
    if isinstance(source, OciLayout):
        return sources.from_oci_layout(source, wanted)
    return pull.resolve(source, settings, wanted, cache, progress)


def _build_as_fakeroot(job: build.Job, mode: Mode) -> int:
    """Run the build in one fakeroot session: owners, devices and xattrs are kept."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=job.work_dir) as spec:
        spec.write(build.dump(job))
        spec.flush()
        argv = ["fakeroot", "--", sys.executable, "-m", "rootfs_tools.build", spec.name, mode.value]
        try:
            child = subprocess.Popen(argv)
        except FileNotFoundError:
            raise RootfsToolsError("fakeroot not found: install it to run unprivileged") from None
        try:
            return child.wait()
        except BaseException:
            child.terminate()  # it removes its own temporary files
            child.wait()
            raise


def run(args: argparse.Namespace) -> int:
    options = Ext4Options(
        size=_size(args.size),
        free_percent=_percent(args.free),
        label=args.label,
        uuid=args.uuid,
        partition=args.partition,
        fmt=args.format,
        compress=args.compress,
        writer=args.writer,
    )
    check(options)
    source = parse_source(args.image)
    mode = Mode.choose(args.quiet)
    output = args.output.absolute()
    work_dir = str((args.work_dir or output.parent).absolute())
    cache = BlobCache(args.cache_dir)
    with Progress(mode) as progress:
        image = _resolve(args, source, cache, progress)
    job = build.Job(image, str(output), options, work_dir)
    if args.writer == "mkfs" and os.geteuid() != 0 and "FAKEROOTKEY" not in os.environ:
        return _build_as_fakeroot(job, mode)
    with Progress(mode) as progress:
        usage = build.build(job, progress)
        progress.say(
            f"wrote {output} ({usage.data_bytes >> 20} MiB content, {usage.entries} entries)"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    build.on_sigterm()
    try:
        return run(args)
    except RootfsToolsError as err:
        print(f"img-from-container: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        print(f"img-from-container: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
