"""A small ELF reader (PT_INTERP, DT_NEEDED, DT_RUNPATH, DT_RPATH, DT_SONAME) and the
dependency walk that decides which shared libraries and which loader go into the image.

Only what the dynamic loader uses is read: the program headers, the dynamic section and
the string table it points to. Little-endian ELF32 and ELF64 are understood.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from initramfs.errors import BuildError

MAGIC = b"\x7fELF"
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 5, 14, 15, 29
# The loader's built-in search path on Debian amd64 (`ld.so --help`); no ld.so.cache is
# shipped, so these are the places a library must sit in the image.
SYSTEM_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib")


@dataclass(frozen=True)
class ElfInfo:
    interp: str | None
    needed: tuple[str, ...]
    soname: str | None = None
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Layout:
    header: str  # e_phoff, e_phentsize, e_phnum
    phdr: str  # p_type, p_offset, p_vaddr, p_filesz
    dyn: str  # d_tag, d_val


LAYOUTS = {
    1: _Layout("<28xI10xHH", "<II4xI8x", "<iI"),  # ELF32
    2: _Layout("<32xQ14xHH", "<I4xQQ8xQ", "<qQ"),  # ELF64: p_flags precedes p_offset
}


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


def read(path: Path) -> ElfInfo:
    data = path.read_bytes()
    if data[:4] != MAGIC or data[5] != 1 or data[4] not in LAYOUTS:
        raise BuildError(f"{path}: not a little-endian ELF file")
    layout = LAYOUTS[data[4]]
    phoff, phentsize, phnum = struct.unpack_from(layout.header, data, 0)
    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
    interp, dynamic = None, None
    for i in range(phnum):
        p_type, offset, vaddr, filesz = struct.unpack_from(layout.phdr, data, phoff + i * phentsize)
        if p_type == PT_LOAD:
            loads.append((vaddr, offset, filesz))
        elif p_type == PT_INTERP:
            interp = data[offset : offset + filesz].split(b"\0", 1)[0].decode()
        elif p_type == PT_DYNAMIC:
            dynamic = (offset, filesz)
    if dynamic is None:
        return ElfInfo(interp, ())
    tags = _dynamic_tags(data, layout.dyn, *dynamic)
    strtab = _file_offset(path, loads, next((v for t, v in tags if t == DT_STRTAB), None))

    def text(value: int) -> str:
        return data[strtab + value : data.index(b"\0", strtab + value)].decode()

    def paths(tag: int) -> tuple[str, ...]:
        return tuple(d for t, v in tags if t == tag for d in text(v).split(":") if d)

    return ElfInfo(
        interp=interp,
        needed=tuple(text(v) for t, v in tags if t == DT_NEEDED),
        soname=next((text(v) for t, v in tags if t == DT_SONAME), None),
        rpath=paths(DT_RPATH),
        runpath=paths(DT_RUNPATH),
    )


def _dynamic_tags(data: bytes, fmt: str, offset: int, size: int) -> list[tuple[int, int]]:
    tags = []
    step = struct.calcsize(fmt)
    for at in range(offset, offset + size, step):
        tag, value = struct.unpack_from(fmt, data, at)
        if tag == DT_NULL:
            break
        tags.append((tag, value))
    return tags


def _file_offset(path: Path, loads: list[tuple[int, int, int]], vaddr: int | None) -> int:
    if vaddr is None:
        raise BuildError(f"{path}: dynamic section without a string table")
    for start, offset, size in loads:
        if start <= vaddr < start + size:
            return vaddr - start + offset
    raise BuildError(f"{path}: string table address {vaddr:#x} is in no loaded segment")


@dataclass
class Closure:
    """Libraries to add: image path -> host file. `found` records who needed what."""

    copies: dict[str, Path] = field(default_factory=dict)
    found: dict[str, str] = field(default_factory=dict)


def closure(
    image: Path,
    elfs: Iterable[str],
    library_path: Iterable[str] = (),
    host: Path = Path("/"),
    system_dirs: Iterable[str] = SYSTEM_DIRS,
) -> Closure:
    """Walk the dependencies of `elfs` (image paths of files staged under `image`).

    A library is looked up as the loader would at boot: DT_RPATH (when there is no
    DT_RUNPATH), `library_path` (what LD_LIBRARY_PATH will be), DT_RUNPATH, then the system
    dirs. A hit already staged in the image is used as is; otherwise it comes from the same
    path on `host` and is walked in turn.
    """
    result = Closure()
    todo = list(elfs)
    seen: set[str] = set()
    extra, system = tuple(library_path), tuple(system_dirs)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        source = image / name.lstrip("/") if (image / name.lstrip("/")).exists() else None
        source = source or result.copies[name]
        info = read(source)
        origin = str(Path(name).parent)
        if info.interp and info.interp not in seen:
            staged = image / info.interp.lstrip("/")
            loader = staged if staged.exists() else (host / info.interp.lstrip("/")).resolve()
            if not loader.is_file():
                raise BuildError(f"{name} needs the loader {info.interp}, which is missing")
            if loader is not staged:
                result.copies[info.interp] = loader
            # The loader is loaded under its own soname: a DT_NEEDED on it is already met.
            result.found.setdefault(read(loader).soname or Path(info.interp).name, info.interp)
            todo.append(info.interp)
        rpath = () if info.runpath else info.rpath
        dirs = [d.replace("$ORIGIN", origin) for d in (*rpath, *extra, *info.runpath)]
        for soname in info.needed:
            if soname in result.found:  # loaded once per process, matched by soname
                todo.append(result.found[soname])
                continue
            target = _lookup(image, host, soname, [*dirs, *system])
            if target is None:
                raise BuildError(
                    f"{name} needs {soname}, found in none of {', '.join([*dirs, *system])}: "
                    f"install the package that provides it on the build host"
                )
            image_path, host_file = target
            result.found.setdefault(soname, image_path)
            if host_file is not None:
                result.copies[image_path] = host_file
            todo.append(image_path)
    return result


def _lookup(
    image: Path, host: Path, soname: str, dirs: list[str]
) -> tuple[str, Path | None] | None:
    if "/" in soname:
        dirs, soname = [str(Path(soname).parent)], Path(soname).name
    for d in dirs:
        candidate = f"{d.rstrip('/')}/{soname}"
        if (image / candidate.lstrip("/")).exists():
            return candidate, None
    for d in dirs:
        candidate = f"{d.rstrip('/')}/{soname}"
        on_host = host / candidate.lstrip("/")
        if on_host.exists():
            return candidate, on_host.resolve()
    return None
