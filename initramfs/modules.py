"""Kernel modules for the image: the default set, its closure over `modules.dep` and
`softdep` lines (aliases resolved), copied uncompressed and re-indexed with `depmod -b`.

`depmod` already turns each module's `softdep` modinfo into `modules.softdep`; ext4's
"pre: crypto-crc32c" resolves through `modules.alias` to crc32c_generic and crc32c_intel,
so a filesystem with metadata checksums mounts.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agent.modindex import ModuleIndex, Softdep
from initramfs.errors import BuildError

# The core archive: what a virtual machine or a common server needs to reach its disk and
# the network (ata_piix: QEMU's IDE disk; sr_mod: its CD-ROM). --modules adds to it.
CORE_MODULES = (
    "virtio_pci", "virtio_blk", "virtio_net", "virtio_scsi",
    "ata_piix", "ahci", "nvme", "sd_mod", "sr_mod",
    "ext4", "vfat", "nls_cp437", "nls_iso8859_1", "nls_utf8",
    "crc32c_generic", "crc32c_intel",
)  # fmt: skip
# The hardware archive (--hardware default): real servers' NICs and storage controllers,
# USB disks, xfs. mlx4_en is mlx4_core's Ethernet half. A default that the kernel lacks
# (mlx cores on the cloud flavour) is reported, not fatal; names from a file are fatal.
HARDWARE_MODULES = (
    "e1000", "e1000e", "igb", "igc", "ixgbe", "i40e", "ice", "bnxt_en", "tg3", "bnx2x",
    "r8169", "mlx4_core", "mlx4_en", "mlx5_core",
    "megaraid_sas", "mpt3sas", "smartpqi", "hpsa", "xhci_pci", "ehci_pci", "usb_storage", "uas",
    "xfs",
)  # fmt: skip
COMPRESSED = {".xz": lzma.decompress, ".gz": gzip.decompress}
INDEX_INPUTS = ("modules.builtin", "modules.builtin.modinfo")


def load_index(tree: Path) -> ModuleIndex:
    """The tree's index files, read by the same parser the agent uses at boot."""
    index = ModuleIndex.load(tree)
    if not index.paths:
        raise BuildError(f"{tree}/modules.dep is missing or empty: run `depmod -b` on the tree")
    return index


@dataclass
class Selection:
    modules: list[str] = field(default_factory=list)  # sorted names to ship
    builtin: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # optional ones this kernel lacks


def resolve(index: ModuleIndex, required: Iterable[str], optional: Iterable[str] = ()) -> Selection:
    """The closure of the wanted modules over hard and soft dependencies."""
    chosen: set[str] = set()
    builtin: set[str] = set()
    missing: list[str] = []
    todo = [(w, True) for w in required] + [(w, False) for w in optional]
    while todo:
        wanted, must = todo.pop(0)
        names = index.resolve(wanted)
        if not names:
            if must:
                raise BuildError(
                    f"kernel module {wanted!r} is neither in modules.dep nor built in, nor an "
                    f"alias of one: check its name (`modinfo {wanted}`) or the kernel"
                )
            missing.append(wanted)
            continue
        for name in names:
            if name in index.builtin:
                builtin.add(name)
            elif name not in chosen:
                chosen.add(name)
                todo += [(d, True) for d in index.deps.get(name, ())]
                soft = index.softdeps.get(name, Softdep())
                todo += [(s, False) for s in (*soft.pre, *soft.post)]
    return Selection(sorted(chosen), sorted(builtin), sorted(set(missing)))


def install(
    tree: Path, release: str, selection: Selection, image: Path, index: ModuleIndex
) -> Path:
    """Copy the selected modules (decompressed) under `image` and index them there."""
    target = image / "lib" / "modules" / release
    target.mkdir(parents=True, exist_ok=True)
    order = []
    for name in selection.modules:
        relative = index.paths[name]
        suffix = Path(relative).suffix
        plain = plain_path(relative)
        destination = target / plain
        destination.parent.mkdir(parents=True, exist_ok=True)
        _copy_plain(tree / relative, destination, suffix)
        order.append(plain)
    (target / "modules.order").write_text("".join(f"{p}\n" for p in sorted(order)))
    for name in INDEX_INPUTS:
        if (tree / name).exists():
            shutil.copyfile(tree / name, target / name)
    result = subprocess.run(["depmod", "-b", str(image), release], capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"depmod -b {image} {release} failed: {result.stderr.strip()}")
    return target


def hardware_choice(choice: str) -> tuple[tuple[str, ...], bool]:
    """`--hardware none|default|FILE`: the module names and whether each must exist."""
    if choice == "none":
        return (), True
    if choice == "default":
        return HARDWARE_MODULES, False
    path = Path(choice)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(
            f"--hardware {choice}: not none or default, and not a readable list of module "
            f"names ({exc.strerror if isinstance(exc, OSError) else exc})"
        ) from exc
    names = tuple(w for line in text.splitlines() for w in line.split("#")[0].split())
    if not names:
        raise BuildError(f"--hardware {choice}: the file names no modules (one name a line)")
    return names, True


def plain_path(relative: str) -> str:
    """A module's path in the image: the tree's, without a compression suffix."""
    suffix = Path(relative).suffix
    return relative.removesuffix(suffix) if suffix in (*COMPRESSED, ".zst") else relative


def _copy_plain(source: Path, destination: Path, suffix: str) -> None:
    if suffix in COMPRESSED:
        destination.write_bytes(COMPRESSED[suffix](source.read_bytes()))
    elif suffix == ".zst":
        with destination.open("wb") as out:
            subprocess.run(["zstd", "-dc", str(source)], stdout=out, check=True)
    else:
        shutil.copyfile(source, destination)
