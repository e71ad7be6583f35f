"""ext4 on-disk structures as bytes: pure packing, no I/O.

The subset written here: 4 KiB blocks, 256-byte inodes, extents, linear directories, in-inode
and block xattrs, an internal jbd2 journal, flex_bg placement, sparse_super2 backups; no
metadata checksums and no 64bit (volumes up to 16 TiB). Field offsets follow the kernel's
fs/ext4/ext4.h; `e2fsck -fn` and a kernel mount check the result in the tests.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

BLOCK = 4096
INODE_SIZE = 256
EXTRA_ISIZE = 32
BLOCKS_PER_GROUP = 8 * BLOCK
MAX_INODES_PER_GROUP = 8 * BLOCK
DESC_SIZE = 32
DESCS_PER_BLOCK = BLOCK // DESC_SIZE
MAX_EXTENT = 32768  # blocks in one initialized extent
LEAF_EXTENTS = (BLOCK - 12) // 12
ROOT_INO, JOURNAL_INO, FIRST_INO = 2, 8, 11
FAST_SYMLINK_MAX = 59  # a target shorter than the 60 bytes of i_block lives in the inode

EXTENTS_FL = 0x80000
COMPAT = 0x4 | 0x8 | 0x20 | 0x200  # has_journal, ext_attr, dir_index, sparse_super2
INCOMPAT = 0x2 | 0x40 | 0x200  # filetype, extents, flex_bg
RO_COMPAT = (
    0x1 | 0x2 | 0x8 | 0x20 | 0x40
)  # sparse_super, large_file, huge_file, dir_nlink, extra_isize

S_IFMT = 0o170000
FILE_TYPE = {
    0o100000: 1,
    0o040000: 2,
    0o020000: 3,
    0o060000: 4,
    0o010000: 5,
    0o140000: 6,
    0o120000: 7,
}

XATTR_MAGIC = 0xEA020000
XATTR_PREFIXES = (  # longest first: the kernel's name indexes
    ("system.posix_acl_access", 2),
    ("system.posix_acl_default", 3),
    ("user.", 1),
    ("trusted.", 4),
    ("security.", 6),
)
INODE_XATTR_SPACE = INODE_SIZE - 128 - EXTRA_ISIZE


class FormatError(ValueError):
    """Something in the tree that this ext4 writer cannot represent."""


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def gdt_blocks(groups: int) -> int:
    return ceil_div(groups * DESC_SIZE, BLOCK)


# -- superblock and group descriptors --------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    blocks: int
    groups: int
    inodes_per_group: int

    @property
    def inodes(self) -> int:
        return self.groups * self.inodes_per_group


@dataclass(frozen=True)
class SuperblockFields:
    geometry: Geometry
    free_blocks: int
    free_inodes: int
    uuid: bytes
    hash_seed: bytes
    label: bytes
    now: int
    journal_iblock: bytes  # the journal inode's i_block, backed up in the superblock
    journal_bytes: int
    backup_group: int  # 0: none


def superblock(f: SuperblockFields, group: int) -> bytes:
    g = f.geometry
    sb = bytearray(1024)
    struct.pack_into(
        "<13I", sb, 0, g.inodes, g.blocks, 0, f.free_blocks, f.free_inodes, 0, 2, 2,
        BLOCKS_PER_GROUP, BLOCKS_PER_GROUP, g.inodes_per_group, 0, f.now,
    )  # fmt: skip
    struct.pack_into("<HhHHHH", sb, 0x34, 0, -1, 0xEF53, 1, 1, 0)
    struct.pack_into("<IIII", sb, 0x40, f.now, 0, 0, 1)  # lastcheck, interval, linux, dynamic
    struct.pack_into("<IHH", sb, 0x54, FIRST_INO, INODE_SIZE, group)
    struct.pack_into("<III", sb, 0x5C, COMPAT, INCOMPAT, RO_COMPAT)
    sb[0x68:0x78] = f.uuid
    sb[0x78:0x88] = f.label.ljust(16, b"\0")
    struct.pack_into("<I", sb, 0xE0, JOURNAL_INO)
    sb[0xEC:0xFC] = f.hash_seed
    struct.pack_into("<BBH", sb, 0xFC, 1, 1, 0)  # half_md4 dir hash; journal backup in s_jnl_blocks
    struct.pack_into(
        "<III", sb, 0x100, 0x000C, 0, f.now
    )  # user_xattr,acl; first_meta_bg; mkfs time
    sb[0x10C:0x148] = f.journal_iblock
    struct.pack_into("<II", sb, 0x148, f.journal_bytes >> 32, f.journal_bytes & 0xFFFFFFFF)
    struct.pack_into("<HHI", sb, 0x15C, EXTRA_ISIZE, EXTRA_ISIZE, 0x1)  # signed dir hash
    struct.pack_into("<B", sb, 0x174, 4)  # 16 groups per flex group
    struct.pack_into("<II", sb, 0x24C, f.backup_group, 0)
    return bytes(sb)


@dataclass(frozen=True)
class GroupDesc:
    block_bitmap: int
    inode_bitmap: int
    inode_table: int
    free_blocks: int
    free_inodes: int
    used_dirs: int


def group_descriptors(descs: list[GroupDesc]) -> bytes:
    out = b"".join(
        struct.pack(
            "<IIIHHHHIHHHH", d.block_bitmap, d.inode_bitmap, d.inode_table, d.free_blocks,
            d.free_inodes, d.used_dirs, 0, 0, 0, 0, 0, 0,
        )
        for d in descs
    )  # fmt: skip
    return out.ljust(gdt_blocks(len(descs)) * BLOCK, b"\0")


def journal_superblock(blocks: int, uuid: bytes) -> bytes:
    """A clean, empty jbd2 v2 journal (big-endian, unlike the rest of ext4)."""
    jsb = bytearray(1024)
    struct.pack_into(">IIIIIIII", jsb, 0, 0xC03B3998, 4, 0, BLOCK, blocks, 1, 1, 0)
    jsb[0x30:0x40] = uuid
    struct.pack_into(">I", jsb, 0x40, 1)  # one user: this filesystem
    return bytes(jsb)


# -- inodes ---------------------------------------------------------------------------------


def _time(t: float) -> tuple[int, int]:
    """(32-bit seconds, extra): extra holds 2 epoch bits (dates past 2038) and nanoseconds."""
    seconds = int(t // 1)
    nsec = min(round((t - seconds) * 1e9), 999_999_999)
    low = seconds & 0xFFFFFFFF
    signed_low = low - (1 << 32) if low >= 1 << 31 else low
    return low, (((seconds - signed_low) >> 32) & 3) | (nsec << 2)


@dataclass(frozen=True)
class InodeFields:
    mode: int
    uid: int
    gid: int
    size: int
    mtime: float
    links: int
    sectors: int  # i_blocks: 512-byte units, every block of the inode incl. tree and xattrs
    flags: int
    iblock: bytes  # 60 bytes: extent root, fast symlink target or device number
    xattr_block: int
    inline_xattrs: bytes  # INODE_XATTR_SPACE bytes, or b""


def inode(f: InodeFields) -> bytes:
    sec, extra = _time(f.mtime)
    raw = bytearray(INODE_SIZE)
    struct.pack_into(
        "<HHIIIIIHHII", raw, 0, f.mode, f.uid & 0xFFFF, f.size & 0xFFFFFFFF, sec, sec, sec, 0,
        f.gid & 0xFFFF, f.links, f.sectors & 0xFFFFFFFF, f.flags,
    )  # fmt: skip
    raw[0x28:0x64] = f.iblock.ljust(60, b"\0")
    struct.pack_into("<II", raw, 0x68, f.xattr_block, f.size >> 32)
    struct.pack_into("<HHHH", raw, 0x74, f.sectors >> 32, 0, f.uid >> 16, f.gid >> 16)
    struct.pack_into("<HHIIIII", raw, 0x80, EXTRA_ISIZE, 0, extra, extra, extra, sec, extra)
    if f.inline_xattrs:
        raw[128 + EXTRA_ISIZE :] = f.inline_xattrs
    return bytes(raw)


def device_iblock(major: int, minor: int) -> bytes:
    """Old 16-bit encoding when it fits (as the kernel writes it), else the new one."""
    if major < 256 and minor < 256:
        return struct.pack("<II", (major << 8) | minor, 0)
    return struct.pack("<II", 0, (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12))


# -- extents ---------------------------------------------------------------------------------


def split_extents(extents: Sequence[tuple[int, int]]) -> Sequence[tuple[int, int]]:
    """Physical runs cut to the 32768-block limit of one extent (the same runs if none is
    longer: most files are one short run, and there may be 100 000 of them)."""
    if all(count <= MAX_EXTENT for _, count in extents):
        return extents
    out = []
    for start, count in extents:
        while count:
            step = min(count, MAX_EXTENT)
            out.append((start, step))
            start, count = start + step, count - step
    return out


def leaf_blocks_needed(extent_count: int) -> int:
    if extent_count <= 4:
        return 0
    leaves = ceil_div(extent_count, LEAF_EXTENTS)
    if leaves > 4:
        raise FormatError(f"a file in {extent_count} extents is beyond this writer's tree depth")
    return leaves


def _header(entries: int, capacity: int, depth: int) -> bytes:
    return struct.pack("<HHHHI", 0xF30A, entries, capacity, depth, 0)


def _leaf_entries(extents: Sequence[tuple[int, int]], logical: int) -> tuple[bytes, int]:
    out = []
    for start, count in extents:
        out.append(struct.pack("<IHHI", logical, count, start >> 32, start & 0xFFFFFFFF))
        logical += count
    return b"".join(out), logical


def extent_tree(
    extents: Sequence[tuple[int, int]], leaves: Sequence[int]
) -> tuple[bytes, list[bytes]]:
    """(i_block, leaf block contents) for runs already cut by split_extents."""
    if not leaves:
        body, _ = _leaf_entries(extents, 0)
        return _header(len(extents), 4, 0) + body, []
    index, payloads, logical = [], [], 0
    for i, leaf in enumerate(leaves):
        part = extents[i * LEAF_EXTENTS : (i + 1) * LEAF_EXTENTS]
        index.append(struct.pack("<IIHH", logical, leaf & 0xFFFFFFFF, leaf >> 32, 0))
        body, logical = _leaf_entries(part, logical)
        payloads.append((_header(len(part), LEAF_EXTENTS, 0) + body).ljust(BLOCK, b"\0"))
    return _header(len(leaves), 4, 1) + b"".join(index), payloads


# -- directories ------------------------------------------------------------------------------


def _record_length(name: bytes) -> int:
    if len(name) > 255:
        raise FormatError(f"{name.decode(errors='replace')!r}: a name is at most 255 bytes")
    return (8 + len(name) + 3) & ~3


def directory_block_count(entries: list[tuple[bytes, int, int]]) -> int:
    """How many blocks directory_blocks() will fill, without building them."""
    blocks, used = 1, 0
    for name, _, _ in entries:
        length = _record_length(name)
        if used + length > BLOCK:
            blocks, used = blocks + 1, 0
        used += length
    return blocks


def directory_blocks(entries: list[tuple[bytes, int, int]]) -> bytes:
    """Linear directory blocks for (name, inode, mode) entries, '.' and '..' first."""
    blocks: list[bytes] = []
    current: list[bytearray] = []
    used = 0
    for name, ino, mode in entries:
        length = _record_length(name)
        if used + length > BLOCK:
            blocks.append(_close_block(current, used))
            current, used = [], 0
        record = bytearray(length)
        struct.pack_into("<IHBB", record, 0, ino, length, len(name), FILE_TYPE[mode & S_IFMT])
        record[8 : 8 + len(name)] = name
        current.append(record)
        used += length
    blocks.append(_close_block(current, used))
    return b"".join(blocks)


def _close_block(records: list[bytearray], used: int) -> bytes:
    last = records[-1]
    struct.pack_into("<H", last, 4, len(last) + BLOCK - used)  # the last record fills the block
    return b"".join(records).ljust(BLOCK, b"\0")


# -- extended attributes ----------------------------------------------------------------------


def _xattr_name(name: str) -> tuple[int, bytes]:
    for prefix, index in XATTR_PREFIXES:
        if name.startswith(prefix) and (index in (2, 3)) == (name == prefix):
            return index, name.removeprefix(prefix).encode()
    raise FormatError(f"extended attribute {name!r}: ext4 has no namespace for it")


def posix_acl_to_disk(value: bytes) -> bytes:
    """The VFS ACL xattr (version 2, 8-byte entries) in ext4's on-disk form (version 1,
    4-byte entries for the owner/group/mask/other, 8 for named users and groups)."""
    if len(value) < 4 or (len(value) - 4) % 8 or struct.unpack_from("<I", value)[0] != 2:
        raise FormatError("a POSIX ACL xattr that is not in the version-2 format")
    out = [struct.pack("<I", 1)]
    for offset in range(4, len(value), 8):
        tag, perm, ident = struct.unpack_from("<HHI", value, offset)
        out.append(
            struct.pack("<HHI", tag, perm, ident)
            if tag in (2, 8)
            else struct.pack("<HH", tag, perm)
        )
    return b"".join(out)


def _hash_entry(name: bytes, value: bytes) -> int:
    h = 0
    for c in name:
        h = ((h << 5) ^ (h >> 27) ^ c) & 0xFFFFFFFF
    padded = value.ljust(ceil_div(len(value), 4) * 4, b"\0")
    for (word,) in struct.iter_unpack("<I", padded):
        h = ((h << 16) ^ (h >> 16) ^ word) & 0xFFFFFFFF
    return h


def _xattr_items(xattrs: dict[str, bytes]) -> list[tuple[int, bytes, bytes]]:
    items = []
    for name, value in xattrs.items():
        index, short = _xattr_name(name)
        items.append((index, short, posix_acl_to_disk(value) if index in (2, 3) else value))
    return sorted(items, key=lambda i: (i[0], len(i[1]), i[1]))  # the kernel's search order


def _pack_xattrs(items: list[tuple[int, bytes, bytes]], space: int, base: int) -> bytes | None:
    """Entries from the front, values from the back; None if they do not fit in `space`.
    Value offsets count from `base` bytes before the first entry."""
    entry_bytes = sum((16 + len(short) + 3) & ~3 for _, short, _ in items) + 4
    value_bytes = sum(ceil_div(len(v), 4) * 4 for _, _, v in items)
    if base + entry_bytes + value_bytes > space:
        return None
    area = bytearray(space - base)
    at, value_end = 0, space - base
    for index, short, value in items:
        value_end -= ceil_div(len(value), 4) * 4
        area[value_end : value_end + len(value)] = value
        struct.pack_into(
            "<BBHIII", area, at, len(short), index, value_end + base, 0, len(value),
            _hash_entry(short, value),
        )  # fmt: skip
        area[at + 16 : at + 16 + len(short)] = short
        at += (16 + len(short) + 3) & ~3
    return bytes(area)


def inline_xattrs(xattrs: dict[str, bytes]) -> bytes | None:
    """The in-inode xattr area, or None if they need a block."""
    body = _pack_xattrs(_xattr_items(xattrs), INODE_XATTR_SPACE - 4, 0)
    return None if body is None else struct.pack("<I", XATTR_MAGIC) + body


def xattr_block(xattrs: dict[str, bytes]) -> bytes:
    items = _xattr_items(xattrs)
    body = _pack_xattrs(items, BLOCK, 32)
    if body is None:
        raise FormatError("extended attributes larger than one 4 KiB block")
    block_hash = 0
    for _, short, value in items:
        block_hash = (
            (block_hash << 16) ^ (block_hash >> 16) ^ _hash_entry(short, value)
        ) & 0xFFFFFFFF
    return struct.pack("<IIII", XATTR_MAGIC, 1, 1, block_hash).ljust(32, b"\0") + body
