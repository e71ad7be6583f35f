"""Firmware for the hardware archive: the files the chosen modules name (`modinfo -F
firmware`), taken from Debian's non-free-firmware packages.

The packages are pinned like the kernel (version and sha256 of the .deb) and fetched the
same way: apt's local copy, else `apt-get download` (needs the non-free-firmware component
in apt's sources), else the .deb from the Debian pool over HTTP; the checksum decides in
every case. They are unpacked once into ~/.cache/metalinit/firmware/, by a rename.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from initramfs.errors import BuildError
from kernels.fetch import APT_ARCHIVES, Kernel, sha256

POOL = "http://deb.debian.org/debian/pool/non-free-firmware/f/firmware-nonfree"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    sha256: str

    @property
    def deb(self) -> str:
        return f"{self.name}_{self.version}_all.deb"


# bookworm's firmware-nonfree 20230210-5: tigon (tg3) and intel/ice in misc-nonfree,
# bnx2x, rtl_nic (r8169). The other modules of the default set name no firmware.
PACKAGES = (
    Package("firmware-misc-nonfree", "20230210-5",
            "bc837b3c19f046d48e4f2fb5530ab10b93a6e9e263d60ba06a345d13cee96422"),
    Package("firmware-bnx2x", "20230210-5",
            "27a81b94a771a4e08ea49ffbf67be246cdcc20c6390e93b5d79659950cfb6aaf"),
    Package("firmware-realtek", "20230210-5",
            "586ce39fc23f8b1d121bd430f5e187c80701df650f4baba05771d828444b075c"),
)  # fmt: skip


@dataclass
class Installed:
    files: list[str] = field(default_factory=list)  # lib/firmware/... in the archive
    missing: list[str] = field(default_factory=list)  # named by a module, in no package


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "metalinit" / "firmware"


def named(kernel: Kernel, names: list[str]) -> list[str]:
    """Every firmware path the modules `names` declare."""
    if not names:
        return []
    argv = ["modinfo", "-b", str(kernel.root), "-k", kernel.release, "-F", "firmware", *names]
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"`modinfo -F firmware` failed: {result.stderr.strip()}")
    return sorted(set(result.stdout.split()))


def install(kernel: Kernel, names: list[str], stage: Path) -> Installed:
    """Copy the firmware the modules name into `stage`/lib/firmware."""
    wanted = named(kernel, names)
    done = Installed()
    if not wanted:
        return done
    trees = [fetch(p) for p in PACKAGES]
    for path in wanted:
        source = next((t / path for t in trees if (t / path).is_file()), None)
        if source is None:
            done.missing.append(path)
            continue
        target = stage / "lib" / "firmware" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.resolve(), target)
        done.files.append(f"lib/firmware/{path}")
    return done


def fetch(package: Package, root: Path | None = None) -> Path:
    """The unpacked lib/firmware of `package`, from the cache or fetched and checked."""
    root = root or cache_root()
    final = root / f"{package.name}_{package.version}"
    if (final / "lib" / "firmware").is_dir():
        return final / "lib" / "firmware"
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{package.name}.", dir=root))
    try:
        deb = _download(package, work)
        actual = sha256(deb)
        if actual != package.sha256:
            raise BuildError(
                f"{package.deb} has sha256 {actual}, but initramfs/firmware.py pins "
                f"{package.sha256}: nothing was cached; if Debian republished it, check "
                f"`apt-cache show {package.name}` and update the pin"
            )
        unpacked = work / "tree"
        result = subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], capture_output=True)
        if result.returncode != 0 or not (unpacked / "lib" / "firmware").is_dir():
            raise BuildError(f"{package.deb}: dpkg-deb -x failed or gave no lib/firmware")
        if final.exists():
            shutil.rmtree(final)
        os.rename(unpacked, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final / "lib" / "firmware"


def _download(package: Package, into: Path) -> Path:
    local = APT_ARCHIVES / package.deb
    if local.is_file():
        return local
    spec = f"{package.name}={package.version}"
    subprocess.run(["apt-get", "download", "-q", spec], cwd=into, capture_output=True)
    if (into / package.deb).is_file():
        return into / package.deb
    url = f"{POOL}/{package.deb}"
    try:
        with (
            urllib.request.urlopen(url, timeout=60) as response,
            (into / package.deb).open("wb") as out,
        ):
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError) as exc:
        raise BuildError(
            f"cannot fetch {package.deb}: apt-get download {spec} failed (is non-free-firmware "
            f"in apt's sources?) and {url} gave {exc}; or use --hardware none"
        ) from exc
    return into / package.deb
