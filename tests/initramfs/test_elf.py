"""The ELF reader against binutils' readelf, and the dependency walk against ldd."""

from __future__ import annotations

import re
import subprocess
import sysconfig
from pathlib import Path

import pytest

from initramfs import elf
from initramfs.errors import BuildError

LIBC = Path("/lib/x86_64-linux-gnu/libc.so.6")
EXTENSION = next(Path(sysconfig.get_path("platstdlib")).glob("lib-dynload/_ssl*.so"), None)
BINARIES = [Path("/bin/ls"), Path("/usr/bin/python3.11"), LIBC, Path("/bin/busybox")]
BINARIES += [EXTENSION] if EXTENSION else []


def readelf(path: Path) -> tuple[str | None, list[str], str | None, list[str]]:
    dynamic = subprocess.run(["readelf", "-dW", str(path)], capture_output=True, text=True)
    headers = subprocess.run(["readelf", "-lW", str(path)], capture_output=True, text=True)
    interp = re.search(r"Requesting program interpreter: (.+)\]", headers.stdout)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", dynamic.stdout)
    soname = re.search(r"\(SONAME\)\s+Library soname: \[(.+)\]", dynamic.stdout)
    runpath = re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[(.+)\]", dynamic.stdout)
    return (
        interp.group(1) if interp else None,
        needed,
        soname.group(1) if soname else None,
        [d for entry in runpath for d in entry.split(":")],
    )


@pytest.mark.parametrize("path", BINARIES, ids=lambda p: p.name)
def test_read_matches_readelf(path: Path) -> None:
    info = elf.read(path)
    interp, needed, soname, runpath = readelf(path)
    assert info.interp == interp
    assert list(info.needed) == needed
    assert info.soname == soname
    assert [*info.rpath, *info.runpath] == runpath


def test_static_busybox_needs_nothing() -> None:
    info = elf.read(Path("/bin/busybox"))
    assert info.interp is None and info.needed == ()


def test_not_elf_is_an_error(tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    assert not elf.is_elf(script)
    with pytest.raises(BuildError, match="not a little-endian ELF"):
        elf.read(script)


def ldd(path: Path) -> set[Path]:
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=True).stdout
    found = re.findall(r"=> (/\S+)", out) + re.findall(r"^\s+(/\S+) \(", out, re.M)
    return {Path(p).resolve() for p in found}


@pytest.mark.parametrize("binary", ["/bin/ls", "/usr/bin/python3.11", "/usr/bin/ssh"])
def test_closure_matches_ldd(tmp_path: Path, binary: str) -> None:
    """Stage the binary alone: the walk must bring exactly what ldd resolves."""
    if not Path(binary).exists():
        pytest.skip(f"{binary} not installed")
    staged = tmp_path / binary.lstrip("/")
    staged.parent.mkdir(parents=True)
    staged.write_bytes(Path(binary).read_bytes())
    walk = elf.closure(tmp_path, [binary])
    assert set(walk.copies.values()) == ldd(Path(binary))
    assert "/lib64/ld-linux-x86-64.so.2" in walk.copies  # at the PT_INTERP path


def test_closure_prefers_staged_library_path(tmp_path: Path) -> None:
    """A library already in the image on the library path is used, not copied."""
    binary = "/usr/bin/python3.11"
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/python3.11").write_bytes(Path(binary).read_bytes())
    (tmp_path / "app").mkdir()
    (tmp_path / "app/libz.so.1").write_bytes(Path("/lib/x86_64-linux-gnu/libz.so.1").read_bytes())
    walk = elf.closure(tmp_path, [binary], library_path=["/app"])
    assert walk.found["libz.so.1"] == "/app/libz.so.1"
    assert not any(p.endswith("libz.so.1") for p in walk.copies)


def test_missing_library_names_it(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/ls").write_bytes(Path("/bin/ls").read_bytes())
    with pytest.raises(BuildError, match=r"libselinux\.so\.1"):
        elf.closure(tmp_path, ["/bin/ls"], system_dirs=("/nowhere",))
    with pytest.raises(BuildError, match=r"loader /lib64/ld-linux-x86-64\.so\.2"):
        elf.closure(tmp_path, ["/bin/ls"], host=tmp_path)
