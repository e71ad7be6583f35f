"""Fetch a pinned kernel: the .deb by `apt-get download`, checked against its manifest's
sha256, unpacked, `depmod`-ed, and moved into the cache in one rename.

The cache holds `<name>-<version>/` with `vmlinuz`, `lib/modules/RELEASE/` and
`kernel.json`. A directory there is complete or absent: everything is built in a temporary
sibling and renamed into place, and the temporary directory goes whatever happens.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kernels.errors import KernelError
from kernels.manifest import Manifest

APT_ARCHIVES = Path("/var/cache/apt/archives")
RECORD = "kernel.json"


@dataclass(frozen=True)
class Kernel:
    """A fetched kernel in the cache."""

    name: str
    version: str
    release: str
    root: Path

    @property
    def vmlinuz(self) -> Path:
        return self.root / "vmlinuz"

    @property
    def modules(self) -> Path:
        return self.root / "lib" / "modules" / self.release


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "metalinit" / "kernels"


def cached(manifest: Manifest, root: Path | None = None) -> Kernel | None:
    directory = (root or cache_root()) / manifest.key
    try:
        record = json.loads((directory / RECORD).read_text())
    except (OSError, ValueError):
        return None
    kernel = Kernel(manifest.name, manifest.version, str(record["release"]), directory)
    ok = kernel.vmlinuz.is_file() and (kernel.modules / "modules.dep").is_file()
    return kernel if ok and record.get("sha256") == manifest.sha256 else None


def fetch(manifest: Manifest, root: Path | None = None) -> Kernel:
    """Return the cached kernel of `manifest`, fetching it first if needed."""
    root = root or cache_root()
    hit = cached(manifest, root)
    if hit:
        return hit
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{manifest.key}.", dir=root))
    try:
        deb = _download(manifest, work / "download")
        _verify(manifest, deb)
        stage = work / "kernel"
        release = _unpack(manifest, deb, work / "unpacked", stage)
        record = {"name": manifest.name, "package": manifest.package}
        record |= {"version": manifest.version, "sha256": manifest.sha256, "release": release}
        (stage / RECORD).write_text(json.dumps(record, indent=2) + "\n")
        final = root / manifest.key
        if final.exists():  # a stale or broken entry: replace it
            shutil.rmtree(final)
        os.rename(stage, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    kernel = cached(manifest, root)
    if kernel is None:
        raise KernelError(f"{manifest}: cache entry {root / manifest.key} is incomplete")
    return kernel


def _local_deb(manifest: Manifest) -> Path | None:
    """A copy apt already holds (it saves a 70 MB download; the checksum still decides)."""
    version = manifest.version.replace(":", "%3a")
    hits = sorted(APT_ARCHIVES.glob(f"{manifest.package}_{version}_*.deb"))
    return hits[0] if hits else None


def _download(manifest: Manifest, into: Path) -> Path:
    into.mkdir()
    local = _local_deb(manifest)
    if local:
        return local
    spec = f"{manifest.package}={manifest.version}"
    result = subprocess.run(
        ["apt-get", "download", "-q", spec], cwd=into, capture_output=True, text=True
    )
    debs = sorted(into.glob("*.deb"))
    if result.returncode != 0 or len(debs) != 1:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
        reason = next((line for line in detail if line.startswith("E:")), "; ".join(detail))
        raise KernelError(
            f"kernel {manifest.name}: apt-get download {spec} failed: {reason}. "
            f"Run `apt-get update`; if the archive no longer has this version, pin the "
            f"current one in {manifest.path or 'the manifest'} "
            f"(`apt-cache show {manifest.package}` gives Version and SHA256)."
        )
    return debs[0]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(manifest: Manifest, deb: Path) -> None:
    actual = sha256(deb)
    if actual != manifest.sha256:
        raise KernelError(
            f"kernel {manifest.name}: {deb.name} has sha256 {actual}, but the manifest "
            f"{manifest.path or ''} pins {manifest.sha256}. Nothing was cached. If the "
            f"archive republished the package, check it with `apt-cache show "
            f"{manifest.package}` and update the manifest; if {deb} is a stale local "
            f"copy, delete it and fetch again."
        )


def _unpack(manifest: Manifest, deb: Path, unpacked: Path, stage: Path) -> str:
    _run(manifest, ["dpkg-deb", "-x", str(deb), str(unpacked)])
    images = sorted((unpacked / "boot").glob("vmlinuz-*"))
    if len(images) != 1:
        raise KernelError(f"kernel {manifest.name}: expected one boot/vmlinuz-* in {deb.name}")
    release = images[0].name.removeprefix("vmlinuz-")
    tree = next(
        (p for p in (unpacked / "lib/modules" / release, unpacked / "usr/lib/modules" / release)
         if p.is_dir()),
        None,
    )  # fmt: skip
    if tree is None:
        raise KernelError(f"kernel {manifest.name}: {deb.name} has no lib/modules/{release}")
    (stage / "lib" / "modules").mkdir(parents=True)
    os.rename(images[0], stage / "vmlinuz")
    os.rename(tree, stage / "lib" / "modules" / release)
    _run(manifest, ["depmod", "-b", str(stage), release])
    return release


def _run(manifest: Manifest, argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise KernelError(
            f"kernel {manifest.name}: `{' '.join(argv)}` failed ({result.returncode}): "
            f"{result.stderr.strip()[-500:]}"
        )
