"""Which filesystem a device holds, and its UUID and LABEL, read from the superblock.

Pure: `identify(head)` takes the first HEAD_SIZE bytes of a device (fewer if the device is
smaller) and returns a Filesystem or None. Where each filesystem keeps its magic is the
PROBES table below; the fields behind each magic are read by one small function per
filesystem. UUIDs come out exactly as `blkid` prints them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

HEAD_SIZE = 68 * 1024  # btrfs keeps its superblock at 64 KiB; swap may end a 64 KiB page


@dataclass(frozen=True)
class Filesystem:
    fstype: str
    uuid: str | None = None
    label: str | None = None


Reader = Callable[[bytes], Filesystem | None]


@dataclass(frozen=True)
class Probe:
    """`magic` at absolute byte `offset` means: ask `read` what is there."""

    offset: int
    magic: bytes
    read: Reader


# ext2/3/4: superblock at 1 KiB; fields are offsets into it.
EXT_SB = 1024
EXT_FEATURE_COMPAT, EXT_FEATURE_INCOMPAT, EXT_FEATURE_RO_COMPAT = 0x5C, 0x60, 0x64
EXT_UUID, EXT_LABEL, EXT_FLAGS = 0x68, 0x78, 0x160
EXT_COMPAT_HAS_JOURNAL = 0x0004
EXT_INCOMPAT_JOURNAL_DEV = 0x0008  # an external journal, not a filesystem
EXT_FLAGS_TEST_FILESYS = 0x0004
# What ext2 and ext3 drivers understand; anything beyond makes it ext4 (as blkid decides).
EXT2_RO_COMPAT_KNOWN = 0x0001 | 0x0002 | 0x0004  # sparse_super, large_file, btree_dir
EXT2_INCOMPAT_KNOWN = 0x0002 | 0x0010  # filetype, meta_bg
EXT3_RO_COMPAT_KNOWN = EXT2_RO_COMPAT_KNOWN
EXT3_INCOMPAT_KNOWN = EXT2_INCOMPAT_KNOWN | 0x0004  # + needs_recovery

# FAT boot sector: BPB fields, then the extended BPB, which sits later on FAT32.
FAT_BYTES_PER_SECTOR, FAT_SECTORS_PER_CLUSTER, FAT_RESERVED, FAT_COUNT = 0x0B, 0x0D, 0x0E, 0x10
FAT_MEDIA, FAT_LENGTH16 = 0x15, 0x16
FAT16_EXT_BPB, FAT32_EXT_BPB = 0x26, 0x42  # boot signature, then serial (4) and label (11)
FAT_EXT_SIGNATURES = (0x28, 0x29)  # 0x28 has a serial but no label
FAT_NO_LABEL = "NO NAME"

XFS_UUID, XFS_LABEL, XFS_BLOCKSIZE = 32, 108, 4
BTRFS_SB = 64 * 1024
BTRFS_UUID, BTRFS_LABEL = BTRFS_SB + 0x20, BTRFS_SB + 0x12B
SWAP_VERSION, SWAP_UUID, SWAP_LABEL = 1024, 1036, 1052
SWAP_PAGE_SIZES = (4096, 8192, 16384, 32768, 65536)
ISO_PVD = 32 * 1024
ISO_LABEL, ISO_CREATED, ISO_MODIFIED = ISO_PVD + 40, ISO_PVD + 813, ISO_PVD + 830
ISO_SECTOR, ISO_VD_MAX, ISO_ESCAPES = 2048, 16, 88  # descriptors follow the primary one
ISO_VD_SUPPLEMENTARY, ISO_VD_END = b"\x02", b"\xff"
ISO_JOLIET_ESCAPES = (b"%/@", b"%/C", b"%/E")
SQUASHFS_MAJOR = 28


def _read_xfs(buf: bytes) -> Filesystem | None:
    blocksize = _u32be(buf, XFS_BLOCKSIZE)
    if not _power_of_two(blocksize, 512, 65536):
        return None
    return Filesystem("xfs", _uuid(buf, XFS_UUID), _text(buf, XFS_LABEL, 12))


def _read_squashfs(buf: bytes) -> Filesystem | None:
    major = _u16(buf, SQUASHFS_MAJOR)
    return Filesystem("squashfs" if major >= 4 else "squashfs3")


def _read_btrfs(buf: bytes) -> Filesystem | None:
    return Filesystem("btrfs", _uuid(buf, BTRFS_UUID), _text(buf, BTRFS_LABEL, 256))


def _read_ext(buf: bytes) -> Filesystem | None:
    compat = _u32(buf, EXT_SB + EXT_FEATURE_COMPAT)
    incompat = _u32(buf, EXT_SB + EXT_FEATURE_INCOMPAT)
    ro_compat = _u32(buf, EXT_SB + EXT_FEATURE_RO_COMPAT)
    if incompat & EXT_INCOMPAT_JOURNAL_DEV:
        return None
    beyond_ext3 = ro_compat & ~EXT3_RO_COMPAT_KNOWN or incompat & ~EXT3_INCOMPAT_KNOWN
    if _u32(buf, EXT_SB + EXT_FLAGS) & EXT_FLAGS_TEST_FILESYS:
        fstype = "ext4dev"
    elif beyond_ext3:
        fstype = "ext4"
    elif compat & EXT_COMPAT_HAS_JOURNAL:
        fstype = "ext3"
    else:
        fstype = "ext2"
    return Filesystem(fstype, _uuid(buf, EXT_SB + EXT_UUID), _text(buf, EXT_SB + EXT_LABEL, 16))


def _read_swap(buf: bytes) -> Filesystem | None:
    if _u32(buf, SWAP_VERSION) != 1:
        return Filesystem("swap")  # version 0 has neither UUID nor label
    return Filesystem("swap", _uuid(buf, SWAP_UUID), _text(buf, SWAP_LABEL, 16))


def _read_iso9660(buf: bytes) -> Filesystem | None:
    date = _iso_date(buf, ISO_MODIFIED) or _iso_date(buf, ISO_CREATED)
    primary = buf[ISO_LABEL : ISO_LABEL + 32]
    joliet = _joliet_label(buf)
    # Joliet keeps case and characters the primary label cannot, but only 16 of them:
    # blkid takes it only when it says something other than the primary one.
    if joliet is None or joliet == primary[:16].decode("latin-1").encode("utf-16-be"):
        return Filesystem("iso9660", date, _text(buf, ISO_LABEL, 32))
    label = joliet.decode("utf-16-be", errors="replace").split("\0", 1)[0].rstrip(" ")
    return Filesystem("iso9660", date, label or None)


def _joliet_label(buf: bytes) -> bytes | None:
    """The raw UTF-16BE label of the first Joliet descriptor after the primary one."""
    for index in range(ISO_VD_MAX):
        descriptor = ISO_PVD + ISO_SECTOR * (index + 1)
        kind = buf[descriptor : descriptor + 1]
        if kind in (b"", ISO_VD_END):
            return None
        escapes = buf[descriptor + ISO_ESCAPES : descriptor + ISO_ESCAPES + 3]
        if kind == ISO_VD_SUPPLEMENTARY and escapes in ISO_JOLIET_ESCAPES:
            return buf[descriptor + 40 : descriptor + 72]
    return None


def _read_vfat(buf: bytes) -> Filesystem | None:
    if len(buf) < 512 or not _plausible_fat_bpb(buf):
        return None
    ext_bpb = FAT32_EXT_BPB if _u16(buf, FAT_LENGTH16) == 0 else FAT16_EXT_BPB
    signature = buf[ext_bpb]
    if signature not in FAT_EXT_SIGNATURES:
        return Filesystem("vfat")
    serial = buf[ext_bpb + 1 : ext_bpb + 5]
    volume_id = f"{serial[3]:02X}{serial[2]:02X}-{serial[1]:02X}{serial[0]:02X}"
    label = _text(buf, ext_bpb + 5, 11, "cp437") if signature == 0x29 else None
    return Filesystem("vfat", volume_id, None if label == FAT_NO_LABEL else label)


PROBES: tuple[Probe, ...] = (
    Probe(0, b"XFSB", _read_xfs),
    Probe(0, b"hsqs", _read_squashfs),
    Probe(BTRFS_SB + 0x40, b"_BHRfS_M", _read_btrfs),
    Probe(EXT_SB + 0x38, b"\x53\xef", _read_ext),
    *(Probe(size - 10, b"SWAPSPACE2", _read_swap) for size in SWAP_PAGE_SIZES),
    *(Probe(size - 10, b"SWAP-SPACE", _read_swap) for size in SWAP_PAGE_SIZES),
    Probe(ISO_PVD, b"\x01CD001\x01", _read_iso9660),
    Probe(0x52, b"MSWIN", _read_vfat),
    Probe(0x52, b"FAT32   ", _read_vfat),
    Probe(0x36, b"MSDOS", _read_vfat),
    Probe(0x36, b"FAT16   ", _read_vfat),
    Probe(0x36, b"FAT12   ", _read_vfat),
    Probe(0x36, b"FAT     ", _read_vfat),
)


def identify(head: bytes) -> Filesystem | None:
    """The filesystem whose superblock starts `head`, or None if no probe recognises it."""
    for probe in PROBES:
        if head[probe.offset : probe.offset + len(probe.magic)] == probe.magic:
            found = probe.read(head)
            if found is not None:
                return found
    return None


def looks_like_fat(sector0: bytes) -> bool:
    """A FAT boot sector also ends in 55 AA; partition-table readers must not take it for
    an MBR."""
    found = identify(sector0[:512])
    return found is not None and found.fstype == "vfat"


def _plausible_fat_bpb(buf: bytes) -> bool:
    return (
        _power_of_two(_u16(buf, FAT_BYTES_PER_SECTOR), 512, 4096)
        and _power_of_two(buf[FAT_SECTORS_PER_CLUSTER], 1, 128)
        and _u16(buf, FAT_RESERVED) > 0
        and buf[FAT_COUNT] > 0
        and (buf[FAT_MEDIA] >= 0xF8 or buf[FAT_MEDIA] == 0xF0)
    )


def _u16(buf: bytes, offset: int) -> int:
    return int.from_bytes(buf[offset : offset + 2], "little") if len(buf) >= offset + 2 else 0


def _u32(buf: bytes, offset: int) -> int:
    return int.from_bytes(buf[offset : offset + 4], "little") if len(buf) >= offset + 4 else 0


def _u32be(buf: bytes, offset: int) -> int:
    return int.from_bytes(buf[offset : offset + 4], "big") if len(buf) >= offset + 4 else 0


def _power_of_two(value: int, low: int, high: int) -> bool:
    return low <= value <= high and value & (value - 1) == 0


def _uuid(buf: bytes, offset: int) -> str | None:
    raw = buf[offset : offset + 16]
    if len(raw) < 16 or raw == bytes(16):
        return None  # blkid shows no UUID rather than the nil one
    return str(uuid.UUID(bytes=raw))


def _text(buf: bytes, offset: int, size: int, encoding: str = "utf-8") -> str | None:
    raw = buf[offset : offset + size].split(b"\0", 1)[0]
    text = raw.decode(encoding, errors="replace").rstrip(" ")
    return text or None


def _iso_date(buf: bytes, offset: int) -> str | None:
    """blkid's UUID for ISO 9660: the volume's date digits as YYYY-MM-DD-HH-MM-SS-cc."""
    digits = buf[offset : offset + 16]
    if len(digits) < 16 or not digits.isdigit() or set(digits) == {ord("0")}:
        return None
    d = digits.decode("ascii")
    return f"{d[0:4]}-{d[4:6]}-{d[6:8]}-{d[8:10]}-{d[10:12]}-{d[12:14]}-{d[14:16]}"
