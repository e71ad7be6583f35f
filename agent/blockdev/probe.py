"""Read a block device or an image file: its partition table, its filesystem, and its
partitions' filesystems. The only I/O of the package's readers; it reads a few blocks at
known offsets, never a whole disk.

Records: the device itself, at the path given; for an image file with a partition table,
also one record per partition at `IMAGE:N` (N the partition number, as the kernel would
name the node, e.g. `disk.img:1`). A real block device gets only its own record: its
partitions have their own nodes, and a partition node's PARTUUID and PARTLABEL come from
its parent disk's table (found through /sys/dev/block/MAJ:MIN).
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from agent.blockdev import BlockDevError
from agent.blockdev.partitions import (
    GPT_SIGNATURE,
    MBR_FIRST_LOGICAL,
    MBR_MAX_LOGICAL,
    SECTOR_SIZES,
    Partition,
    PartitionTable,
    PartitionTableError,
    is_protective_mbr,
    mbr_partuuid,
    parse_ebr,
    parse_gpt_entries,
    parse_gpt_header,
    parse_mbr,
)
from agent.blockdev.superblock import HEAD_SIZE, Filesystem, identify
from agent.rootspec import BlockInfo

BLKGETSIZE64 = 0x80081272  # _IOR(0x12, 114, size_t): size in bytes
BLKSSZGET = 0x1268  # _IO(0x12, 104): logical sector size
PARTITION_SEPARATOR = ":"


class UnreadableDevice(BlockDevError):
    pass


@dataclass(frozen=True)
class Inspection:
    devices: tuple[BlockInfo, ...]
    notes: tuple[str, ...] = ()


@dataclass
class _Opened:
    path: str
    fd: int
    size: int
    sector_size: int
    rdev: int | None  # set for block devices
    notes: list[str] = field(default_factory=list)

    def read(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes at `offset`, fewer at the end of the device."""
        length = max(0, min(length, self.size - offset))
        chunks: list[bytes] = []
        try:
            while length > 0:
                chunk = os.pread(self.fd, length, offset)
                if not chunk:
                    break
                chunks.append(chunk)
                offset, length = offset + len(chunk), length - len(chunk)
        except OSError as e:
            raise UnreadableDevice(f"{self.path}: read at byte {offset}: {e.strerror}") from e
        return b"".join(chunks)

    def __enter__(self) -> _Opened:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        os.close(self.fd)


def probe(
    path: str, *, sys_root: Path = Path("/sys"), dev_root: Path = Path("/dev")
) -> list[BlockInfo]:
    """The records for `path` (see the module docstring). Raises BlockDevError only."""
    return list(inspect(path, sys_root=sys_root, dev_root=dev_root).devices)


def inspect(
    path: str, *, sys_root: Path = Path("/sys"), dev_root: Path = Path("/dev")
) -> Inspection:
    """`probe`, with the notes a reader made on the way (skipped partitions, backup GPT)."""
    with _open(path) as dev:
        table = _read_table(dev)
        found = identify(dev.read(0, HEAD_SIZE))
        partuuid = partlabel = None
        if dev.rdev is not None:
            partuuid, partlabel = _from_parent_table(dev, sys_root, dev_root)
        records = [
            _record(path, dev.size, table.pttype if table else None, found, partuuid, partlabel)
        ]
        if table is not None:
            dev.notes.extend(f"{path}: {note}" for note in table.notes)
            if dev.rdev is None:
                records.extend(_partition_records(dev, table))
        return Inspection(tuple(records), tuple(dev.notes))


def read_table(path: str) -> PartitionTable | None:
    """The partition table on `path` (a disk or an image file), or None if it has none."""
    with _open(path) as dev:
        return _read_table(dev)


def _partition_records(dev: _Opened, table: PartitionTable) -> list[BlockInfo]:
    return [
        _record(
            f"{dev.path}{PARTITION_SEPARATOR}{part.number}",
            part.size,
            None,
            identify(dev.read(part.start, min(HEAD_SIZE, part.size))),
            part.partuuid,
            part.partlabel,
        )
        for part in table.partitions
    ]


def _record(
    path: str,
    size: int,
    pttype: str | None,
    found: Filesystem | None,
    partuuid: str | None,
    partlabel: str | None,
) -> BlockInfo:
    if found is None:
        return BlockInfo(path, size, pttype, partuuid=partuuid, partlabel=partlabel)
    return BlockInfo(path, size, pttype, found.fstype, found.uuid, found.label, partuuid, partlabel)


def _open(path: str) -> _Opened:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise UnreadableDevice(f"{path}: cannot open: {e.strerror}") from e
    try:
        mode = os.fstat(fd)
        if stat.S_ISBLK(mode.st_mode):
            size = struct.unpack("Q", fcntl.ioctl(fd, BLKGETSIZE64, bytes(8)))[0]
            sector_size = struct.unpack("i", fcntl.ioctl(fd, BLKSSZGET, bytes(4)))[0]
            return _Opened(path, fd, size, sector_size, mode.st_rdev)
        if stat.S_ISREG(mode.st_mode):
            opened = _Opened(path, fd, mode.st_size, SECTOR_SIZES[0], None)
            opened.sector_size = _image_sector_size(opened)
            return opened
        raise UnreadableDevice(f"{path}: neither a block device nor an image file")
    except OSError as e:
        os.close(fd)
        raise UnreadableDevice(f"{path}: {e.strerror}") from e
    except BaseException:
        os.close(fd)
        raise


def _image_sector_size(dev: _Opened) -> int:
    """An image file has no sector size of its own; a GPT header at LBA 1 tells it."""
    for size in SECTOR_SIZES:
        if dev.read(size, len(GPT_SIGNATURE)) == GPT_SIGNATURE:
            return size
    return SECTOR_SIZES[0]


def _read_table(dev: _Opened) -> PartitionTable | None:
    sector0 = dev.read(0, dev.sector_size)
    if is_protective_mbr(sector0):
        return _read_gpt(dev)
    table = parse_mbr(sector0, dev.sector_size, dev.size)
    if table is None or table.extended is None:
        return table
    return _with_logical_partitions(dev, table, table.extended)


def _with_logical_partitions(
    dev: _Opened, table: PartitionTable, extended: Partition
) -> PartitionTable:
    """Follow the chain of extended boot records, one sector each."""
    size = dev.sector_size
    extended_lba = extended.start // size
    disk_id = int(table.ptuuid, 16) if table.ptuuid else 0
    partitions, notes = list(table.partitions), list(table.notes)
    lba: int | None = extended_lba
    seen: set[int] = set()
    while lba is not None:
        if lba in seen or len(seen) == MBR_MAX_LOGICAL:
            notes.append(f"the chain of extended boot records loops at LBA {lba}; stopped there")
            break
        seen.add(lba)
        number = MBR_FIRST_LOGICAL + len(partitions) - len(table.partitions)
        ebr = parse_ebr(
            dev.read(lba * size, size),
            ebr_lba=lba,
            extended_lba=extended_lba,
            disk_id=disk_id,
            first_number=number,
            sector_size=size,
            disk_size=dev.size,
        )
        if ebr is None:
            notes.append(f"no extended boot record at LBA {lba}; logical partitions end there")
            break
        partitions.extend(ebr.partitions)
        notes.extend(ebr.notes)
        lba = ebr.next_lba
    return dataclasses.replace(table, partitions=tuple(partitions), notes=tuple(notes))


def _read_gpt(dev: _Opened) -> PartitionTable:
    """The primary GPT, or the backup at the disk's end if the primary is damaged (as the
    kernel does)."""
    size = dev.sector_size
    last_lba = dev.size // size - 1
    problems: list[str] = []
    for lba in dict.fromkeys(lba for lba in (1, last_lba) if lba >= 1):
        try:
            header = parse_gpt_header(
                dev.read(lba * size, size), expected_lba=lba, sector_size=size, disk_size=dev.size
            )
            table = parse_gpt_entries(
                header, dev.read(header.entries_lba * size, header.entries_bytes), size
            )
        except PartitionTableError as e:
            problems.append(str(e))
            continue
        if problems:
            dev.notes.append(f"{dev.path}: {problems[0]}; using the backup GPT at LBA {lba}")
        return table
    raise PartitionTableError(
        f"{dev.path}: has a protective MBR but no valid GPT ({'; '.join(problems)}); "
        "repair it with `sgdisk -v` / `gdisk`, or re-create the table"
    )


def _from_parent_table(
    dev: _Opened, sys_root: Path, dev_root: Path
) -> tuple[str | None, str | None]:
    """PARTUUID and PARTLABEL of a partition node, from the table on its parent disk."""
    assert dev.rdev is not None
    node = sys_root / "dev/block" / f"{os.major(dev.rdev)}:{os.minor(dev.rdev)}"
    try:
        number = int((node / "partition").read_text())
    except FileNotFoundError:
        return None, None  # a whole disk
    except (OSError, ValueError) as e:
        dev.notes.append(f"{dev.path}: cannot read {node}/partition: {e}")
        return None, None
    parent_node = dev_root / node.resolve().parent.name.replace("!", "/")
    try:
        with _open(str(parent_node)) as parent:
            table = _read_table(parent)
    except BlockDevError as e:
        dev.notes.append(f"{dev.path}: no PARTUUID: parent disk unreadable: {e}")
        return None, None
    if table is None:
        return None, None
    part = table.partition(number)
    if part is not None:
        return part.partuuid, part.partlabel
    if table.pttype == "dos" and table.ptuuid:  # the extended one: the kernel's rule
        return mbr_partuuid(int(table.ptuuid, 16), number), None
    return None, None
