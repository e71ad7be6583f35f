"""MBR and GPT partition tables, read as the kernel and blkid read them.

Pure: each function takes the bytes the caller read (sector 0, a GPT header sector, the
GPT entry array) and returns what they say; probe.py does the reading. Offsets and sizes
in the results are in bytes. Logical partitions of an MBR disk come from the chain of extended boot
records, one `parse_ebr` call per record, numbered from 5 as the kernel numbers them.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass

from agent.blockdev import BlockDevError
from agent.blockdev.superblock import looks_like_fat

SECTOR_SIZES = (512, 4096)  # logical sector sizes we look for a GPT header at

MBR_SIZE = 512
MBR_BOOT_SIGNATURE = (510, b"\x55\xaa")
MBR_DISK_ID = 0x1B8
MBR_ENTRIES, MBR_ENTRY_SIZE, MBR_ENTRY_COUNT = 0x1BE, 16, 4
MBR_BOOT_FLAGS = (0x00, 0x80)
MBR_EXTENDED_TYPES = (0x05, 0x0F, 0x85)
MBR_FIRST_LOGICAL = 5
MBR_MAX_LOGICAL = 256  # bounds a looping or hostile chain of extended boot records
MBR_GPT_PROTECTIVE = 0xEE

GPT_SIGNATURE = b"EFI PART"
GPT_HEADER_MIN_SIZE = 92
GPT_HEADER_CRC = slice(16, 20)
GPT_ENTRY_MIN_SIZE = 128
GPT_ENTRY_ARRAY_MAX = 4 * 1024 * 1024  # far above any real table; bounds what we read
GPT_NAME = slice(56, 128)  # UTF-16LE, NUL-padded


class PartitionTableError(BlockDevError):
    pass


@dataclass(frozen=True)
class Partition:
    number: int
    start: int
    size: int
    partuuid: str | None = None
    partlabel: str | None = None


@dataclass(frozen=True)
class PartitionTable:
    pttype: str  # as blkid names it: "dos" or "gpt"
    ptuuid: str | None
    partitions: tuple[Partition, ...]
    notes: tuple[str, ...] = ()
    extended: Partition | None = None  # DOS only: where the chain of EBRs starts

    def partition(self, number: int) -> Partition | None:
        return next((p for p in self.partitions if p.number == number), None)


@dataclass(frozen=True)
class Ebr:
    partitions: tuple[Partition, ...]
    next_lba: int | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class GptHeader:
    my_lba: int
    alternate_lba: int
    first_usable: int
    last_usable: int
    disk_guid: str
    entries_lba: int
    entry_count: int
    entry_size: int
    entries_crc: int

    @property
    def entries_bytes(self) -> int:
        return self.entry_count * self.entry_size


def is_protective_mbr(sector0: bytes) -> bool:
    """Sector 0 of a GPT disk: an MBR with a 0xEE entry (hybrid MBRs have others too)."""
    return _has_mbr_signature(sector0) and any(
        e[4] == MBR_GPT_PROTECTIVE for e in _entries(sector0)
    )


def parse_mbr(sector0: bytes, sector_size: int, disk_size: int) -> PartitionTable | None:
    """The DOS partition table in sector 0, or None if there is none (or it only protects
    a GPT, or the sector is a FAT boot sector, which also ends in 55 AA). Logical
    partitions are read from `extended` with `parse_ebr`."""
    if not _has_mbr_signature(sector0) or is_protective_mbr(sector0) or looks_like_fat(sector0):
        return None
    entries = _entries(sector0)
    if any(e[0] not in MBR_BOOT_FLAGS for e in entries):
        return None  # boot code where the table would be: not an MBR
    disk_id = int.from_bytes(sector0[MBR_DISK_ID : MBR_DISK_ID + 4], "little")
    partitions: list[Partition] = []
    notes: list[str] = []
    extended: Partition | None = None
    for number, entry in enumerate(entries, start=1):
        if entry[4] in MBR_EXTENDED_TYPES and _lba(entry, 12):
            if extended is not None:
                notes.append(f"partition {number} is a second extended one; not followed")
                continue
            extended = Partition(
                number, _lba(entry, 8) * sector_size, _lba(entry, 12) * sector_size
            )
            continue
        where = _Where(number, 0, sector_size, disk_size, disk_id)
        if (part := _data_partition(entry, where, notes)) is not None:
            partitions.append(part)
    ptuuid = f"{disk_id:08x}" if disk_id else None
    return PartitionTable("dos", ptuuid, tuple(partitions), tuple(notes), extended)


def parse_ebr(
    sector: bytes,
    *,
    ebr_lba: int,
    extended_lba: int,
    disk_id: int,
    first_number: int,
    sector_size: int,
    disk_size: int,
) -> Ebr | None:
    """One extended boot record of the chain inside an extended partition: its logical
    partitions (start relative to this EBR, numbered on from `first_number`) and where the
    next EBR is (relative to the extended partition). None if there is no EBR here."""
    if not _has_mbr_signature(sector):
        return None
    partitions: list[Partition] = []
    notes: list[str] = []
    next_lba: int | None = None
    for entry in _entries(sector):
        if entry[4] in MBR_EXTENDED_TYPES:
            if next_lba is None and _lba(entry, 12):
                next_lba = extended_lba + _lba(entry, 8)
            continue
        number = first_number + len(partitions)
        where = _Where(number, ebr_lba, sector_size, disk_size, disk_id)
        if (part := _data_partition(entry, where, notes)) is not None:
            partitions.append(part)
    return Ebr(tuple(partitions), next_lba, tuple(notes))


@dataclass(frozen=True)
class _Where:
    """Where an MBR or EBR entry sits: its number, the LBA its start counts from, the disk."""

    number: int
    base_lba: int
    sector_size: int
    disk_size: int
    disk_id: int


def _data_partition(entry: bytes, where: _Where, notes: list[str]) -> Partition | None:
    if entry[4] == 0 or _lba(entry, 12) == 0:
        return None
    number = where.number
    start = (where.base_lba + _lba(entry, 8)) * where.sector_size
    size = _lba(entry, 12) * where.sector_size
    if start >= where.disk_size:
        notes.append(f"partition {number} starts beyond the end of the disk; skipped")
        return None
    if start + size > where.disk_size:
        notes.append(f"partition {number} runs past the end of the disk; truncated")
        size = where.disk_size - start
    return Partition(number, start, size, mbr_partuuid(where.disk_id, number))


def mbr_partuuid(disk_id: int, number: int) -> str | None:
    """The kernel's PARTUUID for an MBR partition: disk signature and partition number."""
    return f"{disk_id:08x}-{number:02x}" if disk_id else None


def parse_gpt_header(
    sector: bytes, *, expected_lba: int, sector_size: int, disk_size: int
) -> GptHeader:
    """Check and read the GPT header found at LBA `expected_lba`; PartitionTableError says
    what is wrong with it."""
    where = f"GPT header at LBA {expected_lba}"
    if sector[:8] != GPT_SIGNATURE:
        raise PartitionTableError(f"{where}: no 'EFI PART' signature")
    header_size = _u32(sector, 12)
    if not GPT_HEADER_MIN_SIZE <= header_size <= min(sector_size, len(sector)):
        raise PartitionTableError(f"{where}: implausible header size {header_size}")
    unchecked = sector[:16] + bytes(4) + sector[20:header_size]
    if zlib.crc32(unchecked) != _u32(sector, 16):
        raise PartitionTableError(f"{where}: header CRC32 does not match (damaged table)")
    header = GptHeader(
        my_lba=_u64(sector, 24),
        alternate_lba=_u64(sector, 32),
        first_usable=_u64(sector, 40),
        last_usable=_u64(sector, 48),
        disk_guid=str(uuid.UUID(bytes_le=sector[56:72])),
        entries_lba=_u64(sector, 72),
        entry_count=_u32(sector, 80),
        entry_size=_u32(sector, 84),
        entries_crc=_u32(sector, 88),
    )
    disk_sectors = disk_size // sector_size
    entries_end = header.entries_lba * sector_size + header.entries_bytes
    if header.my_lba != expected_lba:
        raise PartitionTableError(f"{where}: says it is at LBA {header.my_lba}")
    if header.entry_size < GPT_ENTRY_MIN_SIZE or header.entry_size % 8:
        raise PartitionTableError(f"{where}: implausible entry size {header.entry_size}")
    if header.entries_bytes > GPT_ENTRY_ARRAY_MAX:
        raise PartitionTableError(f"{where}: entry array of {header.entries_bytes} bytes")
    if not header.first_usable <= header.last_usable < disk_sectors or entries_end > disk_size:
        raise PartitionTableError(
            f"{where}: describes a disk larger than the {disk_size} bytes present "
            "(truncated image, or a disk that was shrunk)"
        )
    return header


def parse_gpt_entries(header: GptHeader, array: bytes, sector_size: int) -> PartitionTable:
    """The partitions in the GPT entry array that `header` describes and checksums."""
    array = array[: header.entries_bytes]
    if len(array) < header.entries_bytes:
        raise PartitionTableError("GPT entry array is cut short (truncated image?)")
    if zlib.crc32(array) != header.entries_crc:
        raise PartitionTableError("GPT entry array CRC32 does not match (damaged table)")
    partitions: list[Partition] = []
    notes: list[str] = []
    for index in range(header.entry_count):
        entry = array[index * header.entry_size : (index + 1) * header.entry_size]
        if entry[:16] == bytes(16):
            continue  # unused slot; numbering still counts it
        number, first, last = index + 1, _u64(entry, 32), _u64(entry, 40)
        if not header.first_usable <= first <= last <= header.last_usable:
            notes.append(f"partition {number} lies outside the usable area; skipped")
            continue
        partitions.append(
            Partition(
                number,
                first * sector_size,
                (last - first + 1) * sector_size,
                str(uuid.UUID(bytes_le=entry[16:32])),
                _utf16_name(entry[GPT_NAME]),
            )
        )
    return PartitionTable("gpt", header.disk_guid, tuple(partitions), tuple(notes))


def _has_mbr_signature(sector0: bytes) -> bool:
    offset, signature = MBR_BOOT_SIGNATURE
    return sector0[offset : offset + len(signature)] == signature


def _entries(sector0: bytes) -> list[bytes]:
    return [
        sector0[MBR_ENTRIES + i * MBR_ENTRY_SIZE : MBR_ENTRIES + (i + 1) * MBR_ENTRY_SIZE]
        for i in range(MBR_ENTRY_COUNT)
    ]


def _utf16_name(raw: bytes) -> str | None:
    name = raw.decode("utf-16-le", errors="replace").split("\0", 1)[0]
    return name or None


def _lba(entry: bytes, offset: int) -> int:
    return int.from_bytes(entry[offset : offset + 4], "little")


def _u32(buf: bytes, offset: int) -> int:
    return int.from_bytes(buf[offset : offset + 4], "little")


def _u64(buf: bytes, offset: int) -> int:
    return int.from_bytes(buf[offset : offset + 8], "little")
