"""Two `out/` directories compared: byte for byte, and where bytes differ, why.

The build is reproducible: the same inputs give the same bytes (docs/build.md). A Docker
build and a host build share the repository, the pinned kernel and (the test checks) the
Python distributions, but not always the Debian packages: `debian:bookworm` has today's
point release, the host whatever it last installed. So an archive may differ only in members
copied from a file that itself differs between the host and the image's build stage
(libpython, libssl, a stdlib .py, …; named with its package's two versions); any other
difference is a failure.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from agent.rootfile import resolve_in_root
from initramfs import compress, cpio

PYTHON = "python3.11"
INTERNAL = "opt/metalinit/_internal/"
LIBRARY_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64")
# The packages whose programs write the compressed bytes: a compressor of another version
# may pack the same archive differently.
DPKG_QUERY = ("dpkg-query", "-W", "-f", "${Package}\t${Version}\n")
COMPRESSORS = {"zst": ("zstd", "libzstd1"), "gz": ("gzip",), "xz": ("xz-utils", "liblzma5")}


@dataclass(frozen=True)
class Excused:
    member: str
    package: str
    host: str
    image: str


@dataclass(frozen=True)
class Verdict:
    identical: bool
    excused: tuple[Excused, ...] = ()
    unexplained: tuple[str, ...] = ()


def host_sources(member: str) -> list[str]:
    """Where on a Debian system the build copied an archive member from (candidates)."""
    name = member.rsplit("/", 1)[-1]
    if member.startswith("lib/modules/"):  # from the pinned kernel, never the system
        return []
    if member.startswith(INTERNAL):
        inner = member[len(INTERNAL) :]
        if inner.startswith(f"{PYTHON}/lib-dynload/"):
            return [f"/usr/lib/{inner}"]
        if inner.endswith(".pyc"):
            return [f"/usr/lib/{PYTHON}/{inner[:-1]}"]  # PyInstaller compiles the stdlib .py
        if "/" not in inner:
            return [f"{d}/{name}" for d in LIBRARY_DIRS]
        return []
    if member.startswith(("lib/", "lib64/", "usr/lib/", "bin/", "usr/bin/")):
        return [f"/{member}", f"/usr/{member}"]
    return []


def _spellings(path: str) -> list[str]:
    """A path as dpkg may have recorded it: Debian 12 merged /lib into /usr/lib, but a
    package lists its files under whichever of the two it was built with."""
    real = os.path.realpath(path)
    out = [path, real]
    for p in (path, real):
        out.append(p.removeprefix("/usr") if p.startswith("/usr/") else "/usr" + p)
    return list(dict.fromkeys(out))


def owner(paths: list[str]) -> str | None:
    """The host's Debian package shipping the first of `paths` dpkg knows, if any."""
    for path in paths:
        for spelling in _spellings(path):
            done = subprocess.run(
                ["dpkg", "-S", spelling], capture_output=True, text=True, check=False
            )
            if done.returncode == 0:
                return done.stdout.split(":", 1)[0].strip()
    return None


def versions(text: str) -> dict[str, str]:
    """`dpkg-query -W -f '${Package}\\t${Version}\\n'` output as a mapping."""
    pairs = (line.split("\t", 1) for line in text.splitlines() if "\t" in line)
    return {name.split(":")[0]: version for name, version in pairs}


def host_versions() -> dict[str, str]:
    done = subprocess.run(
        list(DPKG_QUERY),
        capture_output=True,
        text=True,
        check=True,
    )
    return versions(done.stdout)


def _members(path: Path, kind: str) -> list[cpio.Member]:
    return list(cpio.read(compress.decompress(kind, path)))


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


@dataclass(frozen=True)
class Sides:
    """What the two builds ran on: the host, and the image's build stage (mounted)."""

    image_root: Path
    host_pkgs: dict[str, str]
    image_pkgs: dict[str, str]

    def excuse(self, member: str, package: str) -> Excused:
        return Excused(
            member, package, self.host_pkgs.get(package, "-"), self.image_pkgs.get(package, "-")
        )

    def why_differs(self, member: str) -> Excused | str:
        """The source file behind `member`, if it differs between the two sides."""
        for path in host_sources(member):
            host = _read(path)
            if host is None:
                continue
            package = owner([path]) or "no Debian package"
            image = _read(resolve_in_root(str(self.image_root), path))
            if image is None:
                return f"{member}: its source {path} ({package}) is not in the build stage"
            if image != host:
                return self.excuse(member, package)
            return f"{member}: its source {path} ({package}) is the same on both sides"
        return f"{member}: not from a file of the system (the agent, a pip package, ours)"


def compare_archive(host: Path, image: Path, sides: Sides) -> Verdict:
    if host.read_bytes() == image.read_bytes():
        return Verdict(True)
    kind = host.name.rsplit(".", 1)[-1]
    ours, theirs = _members(host, kind), _members(image, kind)
    layout = [(m.name, m.mode, m.rdev) for m in ours]
    if layout != [(m.name, m.mode, m.rdev) for m in theirs]:
        return Verdict(False, unexplained=("the member lists (names, modes, devices) differ",))
    excused: list[Excused] = []
    unexplained: list[str] = []
    for a, b in zip(ours, theirs, strict=True):
        if a.data != b.data:
            why = sides.why_differs(a.name)
            if isinstance(why, Excused):
                excused.append(why)
            else:
                unexplained.append(why)
    if not excused and not unexplained:  # the same members, other compressed bytes
        changed = [
            p
            for p in COMPRESSORS.get(kind, ())
            if sides.host_pkgs.get(p) != sides.image_pkgs.get(p)
        ]
        excused = [sides.excuse(host.name, p) for p in changed]
        if not excused:
            unexplained.append(f"{host.name}: same members, other compressed bytes")
    return Verdict(False, tuple(excused), tuple(unexplained))


def table(excused: tuple[Excused, ...]) -> str:
    lines = ["member | package | host | image"]
    lines += [f"{e.member} | {e.package} | {e.host} | {e.image}" for e in excused]
    return "\n".join(lines)
