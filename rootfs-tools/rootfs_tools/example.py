"""An example container image made from Debian packages, for the demo and the tests: no
registry on the internet is needed. `debootstrap --variant=minbase --include=PACKAGES` gives
the tree, `umoci` makes it a one-layer OCI image layout with an Entrypoint, and the result is
cached under a key of its inputs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

SUITE = "bookworm"
NGINX_PACKAGES = "nginx-light"
NGINX_CONFIG = (
    "--config.entrypoint", "/usr/sbin/nginx",
    "--config.cmd", "-g", "--config.cmd", "daemon off;",
    "--config.exposedports", "80/tcp",
    "--config.env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
)  # fmt: skip
TAG = "latest"


def cache_dir() -> Path:
    base = os.environ.get("METALINIT_TEST_IMAGES")
    if base:
        return Path(base)
    return (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "metalinit/test-images"
    )


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}… failed:\n{done.stderr[-2000:]}")


def debian_layout(
    packages: str, name: str, config: tuple[str, ...], cache: Path | None = None
) -> tuple[Path, str]:
    """The OCI layout (and its tag) of a minbase Debian tree with PACKAGES installed."""
    key = hashlib.sha256(f"{SUITE}\n{packages}\nminbase\n{config}\n2".encode()).hexdigest()[:16]
    layout = (cache or cache_dir()) / f"{name}-{key}"
    if (layout / "index.json").exists():
        return layout, TAG
    work = layout.with_name(layout.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tree = work / "tree"
    _run(["debootstrap", "--variant=minbase", f"--include={packages}", SUITE, str(tree)])
    for item in (tree / "var/cache/apt/archives").glob("*.deb"):
        item.unlink()
    out = work / "layout"
    image = f"{out}:{TAG}"
    _run(["umoci", "init", "--layout", str(out)])
    _run(["umoci", "new", "--image", image])
    bundle = work / "bundle"
    _run(["umoci", "unpack", "--image", image, str(bundle)])
    shutil.rmtree(bundle / "rootfs")
    os.rename(tree, bundle / "rootfs")
    _run(["umoci", "repack", "--image", image, str(bundle)])
    _run(["umoci", "config", "--image", image, *config])
    _run(["umoci", "gc", "--layout", str(out)])
    os.rename(out, layout)
    shutil.rmtree(work, ignore_errors=True)
    return layout, TAG


def nginx_layout(cache: Path | None = None) -> tuple[Path, str]:
    """Debian's nginx-light as an image whose entrypoint serves the default page on :80."""
    return debian_layout(NGINX_PACKAGES, "nginx", NGINX_CONFIG, cache)
