"""The repository's Dockerfile built for real, with Debian's buildah and no Docker engine.

`debian:bookworm` is made here, not pulled: a `debootstrap --variant=minbase` tree with the
official image's apt sources (main, updates, security), cached under
~/.cache/metalinit/test-images like rootfs_tools.example's trees, then imported into a
private buildah store (`buildah from scratch`, `buildah mount`, copy, `buildah commit …
docker.io/library/debian:bookworm`) so `buildah bud --pull=never` finds it. The store lives
in a directory of the test's own (`--root`, `--runroot`), so nothing touches the host's
containers storage; its driver is overlay where that works (cheap layer commits), else vfs
(a full copy per layer).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rootfs_tools.example import cache_dir

SUITE = "bookworm"
BASE_NAME = "docker.io/library/debian:bookworm"
# The official image's /etc/apt/sources.list.d/debian.sources.
SOURCES = f"""Types: deb
URIs: http://deb.debian.org/debian
Suites: {SUITE} {SUITE}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: {SUITE}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
CA_IN_BUILD = "/run/host-ca.crt"


class BuildahError(RuntimeError):
    pass


def run(argv: list[str], timeout: float = 3600) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-4000:]
        raise BuildahError(f"{' '.join(argv[:4])}… exited {done.returncode}:\n{tail}")
    return done.stdout


def debian_tree(cache: Path | None = None) -> Path:
    """A minbase bookworm tree for the base image, made once (about 30 s) and cached."""
    key = hashlib.sha256(f"{SUITE}\nminbase\n{SOURCES}\n1".encode()).hexdigest()[:16]
    final = (cache or cache_dir()) / f"debian-{SUITE}-{key}"
    if (final / "etc/os-release").exists():
        return final
    work = final.with_name(final.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.parent.mkdir(parents=True, exist_ok=True)
    run(["debootstrap", "--variant=minbase", SUITE, str(work)])
    (work / "etc/apt/sources.list").unlink(missing_ok=True)
    (work / "etc/apt/sources.list.d/debian.sources").write_text(SOURCES)
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (work / leftover).glob("*"):
            if item.is_file():
                item.unlink()
    os.rename(work, final)
    return final


@dataclass(frozen=True)
class Store:
    """A private buildah store: every command gets the same --root, --runroot and driver."""

    root: Path
    driver: str = "overlay"

    def argv(self, *args: str) -> list[str]:
        return ["buildah", "--root", str(self.root / "storage"), "--runroot",
                str(self.root / "run"), "--storage-driver", self.driver, *args]  # fmt: skip

    def buildah(self, *args: str, timeout: float = 3600) -> str:
        return run(self.argv(*args), timeout)

    def import_base(self, tree: Path) -> None:
        """`buildah from scratch`, copy the tree into its mount, commit it as debian:bookworm."""
        container = self.buildah("from", "scratch").strip()
        try:
            mount = Path(self.buildah("mount", container).strip())
            run(["cp", "-a", f"{tree}/.", f"{mount}/"])
            self.buildah("config", "--cmd", "bash", container)
            self.buildah("commit", "--quiet", container, BASE_NAME)
        finally:
            self.buildah("rm", container)

    def build(self, context: Path, *extra: str) -> str:
        """`buildah bud` the context's Dockerfile with the host's CA bundle for pip. Steps
        are kept as layers, so a second build (another --target) reuses the first's."""
        return self.buildah(
            "bud", "--pull=never", "--network", "host", "--layers",
            "-v", f"{HOST_CA}:{CA_IN_BUILD}:ro", "--build-arg", f"PIP_CERT={CA_IN_BUILD}",
            *extra, str(context),
        )  # fmt: skip

    @contextlib.contextmanager
    def container(self, image: str) -> Iterator[tuple[str, Path]]:
        """A working container of `image` and where its filesystem is mounted."""
        name = self.buildah("from", "--pull=never", image).strip()
        try:
            yield name, Path(self.buildah("mount", name).strip())
        finally:
            self.buildah("rm", name)

    def works(self) -> bool:
        """Whether this driver can make, commit and run a container here (overlay needs a
        kernel and a filesystem under the store that allow it; vfs always works, slowly)."""
        try:
            container = self.buildah("from", "scratch").strip()
            mount = Path(self.buildah("mount", container).strip())
            shutil.copy2("/bin/busybox", mount / "busybox")
            self.buildah("commit", "--quiet", "--rm", container, "localhost/probe")
            with self.container("localhost/probe") as (name, _):
                self.buildah("run", name, "--", "/busybox", "true")
            self.buildah("rmi", "localhost/probe")
        except BuildahError:
            self.remove_all()
            return False
        return True

    def remove_all(self) -> None:
        subprocess.run(self.argv("rm", "--all"), capture_output=True, check=False)
        subprocess.run(self.argv("rmi", "--all", "--force"), capture_output=True, check=False)


def store_in(root: Path) -> Store:
    for driver in ("overlay", "vfs"):
        store = Store(root / driver, driver)
        if store.works():
            return store
    raise BuildahError(f"buildah can make no container under {root}, with overlay nor vfs")
