"""`metalinit build`: kernel + frozen agent + busybox + libraries + modules -> out/.

The tree is staged in a temporary directory next to `out/`, written as a sorted newc
archive with the fixed entries (directories, /etc files, device nodes, /init), read back
and compared, compressed, and renamed into place next to a copy of the kernel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent.modindex import ModuleIndex
from initramfs import compress, cpio, elf, firmware, layout, modules, report
from initramfs.errors import BuildError
from initramfs.freeze import CONTENTS, ENTRY, NAME, Frozen, freeze
from kernels.fetch import Kernel, fetch
from kernels.manifest import DEFAULT, load

HARDWARE_ARCHIVE = "initramfs-hardware"


@dataclass(frozen=True)
class Options:
    kernel: str = DEFAULT
    compression: str = "zst"
    extra_modules: tuple[str, ...] = ()  # added to the core archive
    out: Path = Path("out")
    entry: Path = ENTRY
    report: bool = False
    frozen: Frozen | None = None  # an agent frozen already (else: freeze `entry`)
    hardware: str = "default"  # none | default | a file listing module names


@dataclass
class Archive:
    path: Path
    entries: list[cpio.Entry]
    uncompressed: int
    compressed: int


@dataclass
class Result:
    vmlinuz: Path
    initramfs: Path
    release: str
    entries: list[cpio.Entry]
    uncompressed: int
    compressed: int
    selection: modules.Selection
    libraries: dict[str, Path] = field(default_factory=dict)  # image path -> host file
    seconds: float = 0.0
    report: str = ""
    hardware: Archive | None = None  # the second archive, unless --hardware none
    hardware_selection: modules.Selection = field(default_factory=modules.Selection)
    firmware: firmware.Installed = field(default_factory=firmware.Installed)


def build(options: Options) -> Result:
    started = time.monotonic()
    kernel = fetch(load(options.kernel))
    wanted, required = modules.hardware_choice(options.hardware)
    index = modules.load_index(kernel.modules)
    # Both sets resolved before anything is staged: a bad name fails at once.
    core = modules.resolve(index, options.extra_modules, modules.CORE_MODULES)
    chosen = modules.resolve(index, wanted if required else (), () if required else wanted)
    own = [n for n in chosen.modules if n not in core.modules]
    chosen = modules.Selection(own, chosen.builtin, chosen.missing)
    frozen = options.frozen or freeze(options.entry)
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build.", dir=options.out) as tmp:
        stage = Path(tmp) / "root"
        shutil.copytree(frozen.root, stage / layout.AGENT_DIR, symlinks=True)
        layout.add_busybox(stage)
        libraries = add_libraries(stage)
        modules.install(kernel.modules, kernel.release, core, stage, index)
        layout.add_busybox_links(stage)
        entries = layout.merge(cpio.scan(stage), layout.fixed_entries())
        main = pack(entries, Path(tmp), "initramfs", options.compression)
        extra = None
        blobs = firmware.Installed()
        if wanted:
            hw_entries, blobs = hardware_entries(kernel, index, core, chosen, Path(tmp) / "hw")
            extra = pack(hw_entries, Path(tmp), HARDWARE_ARCHIVE, options.compression)
        table = report.tables([main] + ([extra] if extra else [])) if options.report else ""
        shutil.copyfile(kernel.vmlinuz, Path(tmp) / "vmlinuz")
        os.replace(Path(tmp) / "vmlinuz", options.out / "vmlinuz")
        for archive in (main, extra):
            if archive:
                os.replace(archive.path, options.out / archive.path.name)
                archive.path = options.out / archive.path.name
        remove_stale_archives(options.out, {a.path.name for a in (main, extra) if a})
    return Result(
        options.out / "vmlinuz", main.path, kernel.release, main.entries, main.uncompressed,
        main.compressed, core, libraries, time.monotonic() - started, table, extra, chosen,
        blobs,
    )  # fmt: skip


def remove_stale_archives(out: Path, written: set[str]) -> None:
    """An earlier build's archives (another compression, or a hardware archive this build
    has none of): `metalinit boot` and the PXE server load every initramfs*.cpio.* there."""
    for path in out.glob("initramfs*.cpio.*"):
        if path.name not in written and path.is_file():
            path.unlink()


def pack(entries: list[cpio.Entry], tmp: Path, stem: str, compression: str) -> Archive:
    """Write, read back, compress and check one archive in `tmp`."""
    archive = tmp / f"{stem}.cpio"
    with archive.open("wb") as out:
        cpio.write(entries, out)
    verify(archive.read_bytes(), entries)
    packed = tmp / f"{stem}.cpio.{compression}"
    compress.compress(compression, archive, packed)
    if compress.decompress(compression, packed) != archive.read_bytes():
        raise BuildError(f"{packed.name} does not decompress to the archive just written")
    return Archive(packed, entries, archive.stat().st_size, packed.stat().st_size)


def hardware_entries(
    kernel: Kernel,
    index: ModuleIndex,
    core: modules.Selection,
    chosen: modules.Selection,
    stage: Path,
) -> tuple[list[cpio.Entry], firmware.Installed]:
    """The hardware archive: its modules, the firmware they name, and the index of core +
    hardware together. The kernel unpacks it over the core, so its modules.* files replace
    the core's own, which index the core alone (for --hardware none)."""
    union = modules.Selection(sorted(set(core.modules) | set(chosen.modules)))
    modules.install(kernel.modules, kernel.release, union, stage, index)
    base = f"lib/modules/{kernel.release}/"
    in_core = {base + modules.plain_path(index.paths[n]) for n in core.modules}
    blobs = firmware.install(kernel, chosen.modules, stage)
    return [e for e in cpio.scan(stage) if e.name not in in_core], blobs


def add_libraries(stage: Path) -> dict[str, Path]:
    """Copy (stripped) every shared library and the loader the staged ELF files need."""
    agent = f"/{layout.AGENT_DIR}"
    internal = f"{agent}/{CONTENTS}"
    loaded = add_ctypes_libraries(stage)
    staged = sorted(
        "/" + p.relative_to(stage).as_posix()
        for p in stage.rglob("*")
        if p.is_file() and not p.is_symlink() and elf.is_elf(p)
    )
    # The bootloader first runs with no LD_LIBRARY_PATH, then re-executes itself with
    # LD_LIBRARY_PATH=_internal, which the Python side (libpython, extensions) sees.
    first = elf.closure(stage, [f"{agent}/{NAME}"])
    second = elf.closure(stage, staged, library_path=[internal])
    copies = first.copies | second.copies | loaded
    for image_path, host_file in sorted(copies.items()):
        target = stage / image_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(host_file, target)
        target.chmod(0o755)
    strip([stage / p.lstrip("/") for p in copies] + _agent_libraries(stage / internal.lstrip("/")))
    return copies


def add_ctypes_libraries(stage: Path, host: Path = Path("/")) -> dict[str, Path]:
    """Stage the libraries of layout.CTYPES_LIBRARIES where the loader's search finds them;
    staged before the walk, so their own dependencies are walked too."""
    copies = {}
    for soname, package in layout.CTYPES_LIBRARIES:
        image_path = next(
            (f"{d}/{soname}" for d in elf.SYSTEM_DIRS if (host / d.lstrip("/") / soname).exists()),
            None,
        )
        if image_path is None:
            raise BuildError(
                f"the agent loads {soname} with ctypes, and the build host has none in "
                f"{', '.join(elf.SYSTEM_DIRS)}: install Debian's {package}"
            )
        copies[image_path] = (host / image_path.lstrip("/")).resolve()
        target = stage / image_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(copies[image_path], target)
    return copies


def _agent_libraries(internal: Path) -> list[Path]:
    """PyInstaller's .so files (copies in the stage); never the bootloader, whose archive
    is appended to it and would not survive `strip`."""
    return sorted(p for p in internal.rglob("*.so*") if p.is_file() and elf.is_elf(p))


def strip(paths: list[Path]) -> None:
    if not paths:
        return
    result = subprocess.run(
        ["strip", "--strip-unneeded", *map(str, paths)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise BuildError(f"strip failed: {result.stderr.strip()} (is binutils installed?)")


def verify(blob: bytes, entries: list[cpio.Entry]) -> None:
    """Read the archive back: same names, types, devices and contents, in order."""
    members = list(cpio.read(blob))
    if [m.name for m in members] != [e.name for e in entries]:
        raise BuildError("the archive read back does not list the entries written")
    for member, entry in zip(members, entries, strict=True):
        same = member.mode == entry.mode and member.rdev == entry.rdev
        if not same or member.data != entry.payload():
            raise BuildError(f"archive member {member.name} differs from what was staged")
