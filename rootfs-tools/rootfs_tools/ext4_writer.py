"""Write an ext4 filesystem straight from an `ImageTree`: no staging tree, no mkfs.

File data is written while the layers are read, right after the group descriptors, in the
order the tar streams give it. When the last layer is in, the metadata follows the data:
bitmaps and inode tables (flex_bg lets them sit anywhere), directories, extent leaves, xattr
blocks, long symlinks and the journal. Then the free space the caller asked for. The
primary superblock and descriptors are at block 0; one backup (sparse_super2) is in group 1,
whose first blocks the allocator always steps over. If a later layer replaced or deleted a
file, the data of the files that remain is moved down over it before the metadata is placed
and the rest is cut off (`compact`): the image holds no deleted bytes and is as small as if
they had never been there. Without deletions nothing moves.
"""

from __future__ import annotations

import os
import stat
import tarfile
import time
import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass

from rootfs_tools import ext4_format as fmt
from rootfs_tools.errors import RootfsToolsError
from rootfs_tools.ext4 import Usage, journal_mib
from rootfs_tools.imagetree import Extent, Node
from rootfs_tools.layers import Readable

BLOCK = fmt.BLOCK
MAX_GROUPS_WITHOUT_SIZE = 8192  # 1 TiB: the descriptor blocks kept free in group 0 and 1
CHUNK = 1 << 20
MAX_LINKS = 65000
MIB = 1 << 20


class Allocator:
    """Hands out blocks from a cursor, stepping over the backup superblock area of group 1."""

    def __init__(
        self, first: int, reserved: int, limit: int | None, room: int | None = None
    ) -> None:
        self.next = first
        self.hole = (fmt.BLOCKS_PER_GROUP, fmt.BLOCKS_PER_GROUP + 1 + reserved)
        self.limit = limit
        self.room = room  # blocks the output's filesystem has free

    def take(self, count: int, *, contiguous: bool = False) -> list[Extent]:
        runs: list[Extent] = []
        while count:
            start = self.next
            if self.hole[0] <= start < self.hole[1]:
                start = self.hole[1]
            room = self.hole[0] - start if start < self.hole[0] else count
            if contiguous and room < count:
                start, room = self.hole[1], count
            step = min(count, room)
            runs.append((start, step))
            self.next, count = start + step, count - step
        if self.limit is not None and self.next > self.limit:
            raise RootfsToolsError(
                f"--size too small: the content needs more than {self.limit * BLOCK >> 20} MiB"
            )
        if self.room is not None and self.next > self.room:
            raise RootfsToolsError(
                f"the output's filesystem has only {self.room * BLOCK >> 20} MiB free, "
                "less than the content needs: free space or write elsewhere"
            )
        return runs

    def one_run(self, count: int) -> int:
        return self.take(count, contiguous=True)[0][0]


@dataclass(slots=True)
class _Inode:
    """What the metadata pass adds to a Node: its blocks beyond file data, its xattrs."""

    node: Node
    extents: Sequence[Extent] = ()  # cut to extent length
    leaves: Sequence[int] = ()
    xattr_block: int = 0  # -1: needs one, not placed yet
    inline: bytes = b""
    body_blocks: int = 0  # a directory's blocks or a long symlink's one, made when written
    parent: Node | None = None  # a directory's

    @property
    def ino(self) -> int:
        return self.node.ino


class Ext4Writer:
    """Owns the image file while it is being written; `store` is the tree's DataSink."""

    def __init__(self, fd: int, offset: int, size: int | None, room: int | None = None) -> None:
        self.fd, self.offset = fd, offset
        limit = size // BLOCK if size is not None else None
        groups = fmt.ceil_div(limit, fmt.BLOCKS_PER_GROUP) if limit else MAX_GROUPS_WITHOUT_SIZE
        self.reserved_gdt = fmt.gdt_blocks(groups)
        room_blocks = None if room is None else room // BLOCK
        self.alloc = Allocator(1 + self.reserved_gdt, self.reserved_gdt, limit, room_blocks)
        self.stored = 0  # blocks of file data written, live or not

    def _pwrite(self, block: int, data: bytes | bytearray | memoryview) -> None:
        os.pwrite(self.fd, data, self.offset + block * BLOCK)

    def store(self, source: Readable, size: int) -> list[Extent]:
        runs = self.alloc.take(fmt.ceil_div(size, BLOCK))
        left = size
        for start, count in runs:
            at, end = start * BLOCK, start * BLOCK + min(count * BLOCK, left)
            while at < end:
                chunk = source.read(min(CHUNK, end - at))
                if not chunk:
                    raise tarfile.ReadError("the tar stream ends inside a file")
                os.pwrite(self.fd, chunk, self.offset + at)
                at += len(chunk)
            left -= count * BLOCK
        self.stored += sum(c for _, c in runs)
        return runs

    def compact(self, files: list[Node]) -> None:
        """Move the data of `files` (the regular files the final tree holds) down over the
        blocks of deleted ones, and cut off the rest. Every live block moves to a lower or
        the same position, in order, so no block is overwritten before it is copied."""
        if sum(c for node in files for _, c in node.extents) == self.stored:
            return
        if not stat.S_ISREG(os.fstat(self.fd).st_mode):
            # A disk (oci2disk) is not zeros where the data was: metadata placed over the
            # freed blocks would meet their stale bytes. Only image files are compacted.
            return
        old = self.alloc
        alloc = Allocator(1 + self.reserved_gdt, self.reserved_gdt, old.limit, old.room)
        for node in sorted((n for n in files if n.extents), key=lambda n: n.extents[0][0]):
            moved = alloc.take(sum(c for _, c in node.extents))
            for src, dst, count in _pairs(node.extents, moved):
                if src != dst:
                    self._copy(src, dst, count)
            node.extents = moved
        self.alloc, self.stored = alloc, alloc.next
        _cut(self.fd, self.offset + alloc.next * BLOCK)

    def _copy(self, src: int, dst: int, count: int) -> None:
        step = CHUNK // BLOCK
        for i in range(0, count, step):
            n = min(step, count - i)
            data = os.pread(self.fd, n * BLOCK, self.offset + (src + i) * BLOCK)
            self._pwrite(dst + i, data.ljust(n * BLOCK, b"\0"))  # a file's tail: zeros

    def finish(self, root: Node, free_percent: float, label: str, uuid: str) -> Usage:
        """Write the metadata for `root`, with `free_percent` of the content's apparent size
        as free space (unless the size is fixed); the filesystem is complete on return."""
        return _Layout(self, root, free_percent, label, uuid).write()


def _cut(fd: int, length: int) -> None:
    """Size an image file to `length`; a block device (oci2disk's target) keeps its size."""
    if stat.S_ISREG(os.fstat(fd).st_mode):
        os.ftruncate(fd, length)


class _Layout:
    """The metadata pass: numbers inodes, sizes the filesystem, places and writes metadata."""

    def __init__(
        self, w: Ext4Writer, root: Node, free_percent: float, label: str, uuid: str
    ) -> None:
        self.w = w
        self.label = label.encode()
        self.uuid = uuidlib.UUID(uuid).bytes if uuid else uuidlib.uuid4().bytes
        self.inodes = _number(root)
        w.compact([rec.node for rec in self.inodes if stat.S_ISREG(rec.node.mode)])
        for rec in self.inodes:
            _prepare(rec)
        self.usage = Usage(*_content(self.inodes))
        free_bytes = self.free_bytes = int(self.usage.apparent_bytes * free_percent / 100)
        if w.alloc.limit is not None:  # a fixed size: one inode per 16 KiB of what is free
            free_bytes = max(0, (w.alloc.limit - w.alloc.next) * BLOCK)
        self.wanted_inodes = len(self.inodes) * 21 // 20 + fmt.FIRST_INO + 64 + free_bytes // 16384

    def _allocate(
        self, alloc: Allocator, groups: int, per_table: int, jblocks: int
    ) -> tuple[int, int]:
        """Place every metadata block; (first bitmap block, journal). Run once as a trial
        on a copy of the allocator to size the filesystem, then for real: same result."""
        base = alloc.one_run(2 * groups + groups * per_table)
        for rec in self.inodes:
            if rec.body_blocks:
                count = rec.body_blocks
                rec.extents = fmt.split_extents([(alloc.one_run(count), count)])
            rec.leaves = [alloc.one_run(1) for _ in range(fmt.leaf_blocks_needed(len(rec.extents)))]
            if rec.xattr_block:
                rec.xattr_block = alloc.one_run(1)
        return base, alloc.one_run(jblocks)

    def _geometry(self, jblocks: int) -> fmt.Geometry:
        w = self.w
        groups = max(1, fmt.ceil_div(self.wanted_inodes, fmt.MAX_INODES_PER_GROUP))
        for _ in range(32):  # settles in two or three rounds
            per_group = fmt.ceil_div(fmt.ceil_div(self.wanted_inodes, groups), 16) * 16
            if per_group > fmt.MAX_INODES_PER_GROUP:  # only a fixed size gets here
                raise RootfsToolsError(
                    f"--size too small for {len(self.inodes)} entries: every 128 MiB of the "
                    f"filesystem holds at most {fmt.MAX_INODES_PER_GROUP} inodes"
                )
            trial = Allocator(w.alloc.next, w.reserved_gdt, None)
            self._allocate(trial, groups, per_group * fmt.INODE_SIZE // BLOCK, jblocks)
            if w.alloc.limit is not None:
                blocks = w.alloc.limit
            else:
                blocks = trial.next + fmt.ceil_div(self.free_bytes, BLOCK)
                blocks = max(blocks, (groups - 1) * fmt.BLOCKS_PER_GROUP + 256)
                if blocks > fmt.BLOCKS_PER_GROUP:  # group 1 holds its whole backup area
                    blocks = max(blocks, fmt.BLOCKS_PER_GROUP + 1 + w.reserved_gdt + 256)
            needed = fmt.ceil_div(blocks, fmt.BLOCKS_PER_GROUP)
            if needed == groups:
                return fmt.Geometry(blocks, groups, per_group)
            groups = needed
        raise RootfsToolsError("could not settle the filesystem's geometry")

    def write(self) -> Usage:
        w = self.w
        content = (sum(rec.body_blocks for rec in self.inodes) + w.alloc.next) * BLOCK
        jblocks = journal_mib(content + self.free_bytes) * (MIB // BLOCK)
        geo = self._geometry(jblocks)
        groups = geo.groups
        if fmt.gdt_blocks(groups) > w.reserved_gdt:
            raise RootfsToolsError("the image would be over 1 TiB: give --size")
        per_table = geo.inodes_per_group * fmt.INODE_SIZE // BLOCK
        base, journal = self._allocate(w.alloc, groups, per_table, jblocks)
        if w.alloc.next > geo.blocks:
            raise RootfsToolsError(
                f"--size too small: content and metadata need {w.alloc.next * BLOCK >> 20} MiB"
            )
        journal_node = Node(stat.S_IFREG | 0o600)
        journal_node.ino, journal_node.links, journal_node.size = (
            fmt.JOURNAL_INO,
            1,
            jblocks * BLOCK,
        )
        journal_rec = _Inode(journal_node, [(journal, jblocks)])
        w._pwrite(journal, fmt.journal_superblock(jblocks, self.uuid))

        used = Bitmap(geo.blocks, groups)
        used.mark(0, 1 + fmt.gdt_blocks(groups))
        if groups > 1:
            used.mark(fmt.BLOCKS_PER_GROUP, 1 + fmt.gdt_blocks(groups))
        used.mark(base, 2 * groups + groups * per_table)
        used_dirs = [0] * groups
        records = [self.inodes[0], journal_rec, *self.inodes[1:]]  # in inode number order
        table, table_group = bytearray(), 0
        for rec in records:
            for start, count in rec.extents:
                used.mark(start, count)
            for block in rec.leaves:
                used.mark(block, 1)
            if rec.xattr_block:
                used.mark(rec.xattr_block, 1)
                w._pwrite(rec.xattr_block, fmt.xattr_block(rec.node.xattrs))
            if rec.body_blocks:
                w._pwrite(rec.extents[0][0], _body(rec))
            group, index = divmod(rec.ino - 1, geo.inodes_per_group)
            if group != table_group:  # one group's inode table in memory at a time
                w._pwrite(base + 2 * groups + table_group * per_table, table)
                table, table_group = bytearray(), group
            table += bytes((index * fmt.INODE_SIZE) - len(table))
            table += self._inode_bytes(rec)
            if rec.node.is_dir:
                used_dirs[group] += 1
        table += bytes(-len(table) % BLOCK)
        w._pwrite(base + 2 * groups + table_group * per_table, table)
        last_ino = records[-1].ino

        descs = []
        for g in range(groups):
            in_group = max(0, min(last_ino - g * geo.inodes_per_group, geo.inodes_per_group))
            w._pwrite(base + g, used.group(g))
            w._pwrite(base + groups + g, _inode_bitmap(in_group, geo.inodes_per_group))
            descs.append(
                fmt.GroupDesc(
                    base + g, base + groups + g, base + 2 * groups + g * per_table,
                    used.free_in(g), geo.inodes_per_group - in_group, used_dirs[g],
                )
            )  # fmt: skip
        fields = fmt.SuperblockFields(
            geometry=geo,
            free_blocks=sum(d.free_blocks for d in descs),
            free_inodes=geo.inodes - last_ino,
            uuid=self.uuid,
            hash_seed=uuidlib.uuid4().bytes,
            label=self.label,
            now=int(time.time()),
            journal_iblock=fmt.extent_tree(journal_rec.extents, ())[0].ljust(60, b"\0"),
            journal_bytes=jblocks * BLOCK,
            backup_group=1 if groups > 1 else 0,
        )
        gdt = fmt.group_descriptors(descs)
        os.pwrite(w.fd, fmt.superblock(fields, 0), w.offset + 1024)
        w._pwrite(1, gdt)
        if groups > 1:  # a backup superblock starts its block (the primary is at byte 1024)
            w._pwrite(fmt.BLOCKS_PER_GROUP, fmt.superblock(fields, 1).ljust(BLOCK, b"\0") + gdt)
        _cut(w.fd, w.offset + geo.blocks * BLOCK)
        return self.usage

    def _inode_bytes(self, rec: _Inode) -> bytes:
        node = rec.node
        kind = stat.S_IFMT(node.mode)
        flags, iblock, size, sectors = 0, b"", node.size, 0
        if kind in (stat.S_IFREG, stat.S_IFDIR) or rec.extents:
            iblock, leaves = fmt.extent_tree(rec.extents, rec.leaves)
            for leaf, payload in zip(rec.leaves, leaves, strict=True):
                self.w._pwrite(leaf, payload)
            flags = fmt.EXTENTS_FL
            sectors = (sum(c for _, c in rec.extents) + len(rec.leaves)) * (BLOCK // 512)
            if kind == stat.S_IFDIR:
                size = rec.body_blocks * BLOCK
            elif kind == stat.S_IFLNK:
                size = len(node.target)
        elif kind == stat.S_IFLNK:
            iblock, size = node.target, len(node.target)
        elif kind in (stat.S_IFCHR, stat.S_IFBLK):
            iblock = fmt.device_iblock(*node.rdev)
        if rec.xattr_block:
            sectors += BLOCK // 512
        links = node.links
        if links > MAX_LINKS:
            if not node.is_dir:
                raise fmt.FormatError(f"a file with {links} hard links; ext4 allows {MAX_LINKS}")
            links = 1  # dir_nlink: "many subdirectories"
        return fmt.inode(
            fmt.InodeFields(
                mode=node.mode, uid=node.uid, gid=node.gid, size=size, mtime=node.mtime,
                links=links, sectors=sectors, flags=flags, iblock=iblock,
                xattr_block=rec.xattr_block, inline_xattrs=rec.inline,
            )
        )  # fmt: skip


def _pairs(src: list[Extent], dst: list[Extent]) -> list[tuple[int, int, int]]:
    """(from, to, count) segments that copy the blocks of runs `src` to runs `dst`."""
    out, i, j = [], 0, 0
    (a, left_a), (b, left_b) = src[0], dst[0]
    while True:
        n = min(left_a, left_b)
        out.append((a, b, n))
        a, b, left_a, left_b = a + n, b + n, left_a - n, left_b - n
        if not left_a:
            i += 1
            if i == len(src):
                return out
            a, left_a = src[i]
        if not left_b:
            j += 1
            b, left_b = dst[j]


def _number(root: Node) -> list[_Inode]:
    """Inodes in number order: root 2, lost+found 11, the rest depth-first by name from 12.
    A hard-linked node gets one number and one link per directory entry."""
    found = root.children.get("lost+found")
    if found is None or not found.is_dir:  # e2fsck needs a directory; the image's is lost
        root.children["lost+found"] = Node(stat.S_IFDIR | 0o700, mtime=root.mtime)
    root.ino, root.links = fmt.ROOT_INO, 2
    order = [_Inode(root, parent=root)]  # then inode 11 at order[1], 12 at order[2]...

    def visit(node: Node) -> None:
        if not node.ino:
            node.ino = fmt.FIRST_INO + len(order) - 1
            order.append(_Inode(node))
        node.links += 1

    visit(root.children["lost+found"])
    stack = [root]
    while stack:
        directory = stack.pop()
        subdirs = []
        for name in sorted(directory.children):
            child = directory.children[name]
            visit(child)
            if child.is_dir:
                child.links = 2  # '.' and the entry here; each subdirectory's '..' adds one
                directory.links += 1
                order[child.ino - fmt.FIRST_INO + 1].parent = directory
                subdirs.append(child)
        stack.extend(reversed(subdirs))
    return order


def _entries(rec: _Inode) -> list[tuple[bytes, int, int]]:
    """A directory's entries, made when needed rather than kept for every directory."""
    directory, parent = rec.node, rec.parent
    assert parent is not None
    entries = [(b".", directory.ino, stat.S_IFDIR), (b"..", parent.ino, stat.S_IFDIR)]
    for name in sorted(directory.children):
        child = directory.children[name]
        entries.append((name.encode("utf-8", "surrogateescape"), child.ino, child.mode))
    return entries


def _prepare(rec: _Inode) -> None:
    """What the metadata pass must place: directory blocks, a long symlink's block, extent
    leaves, an xattr block."""
    node = rec.node
    if node.is_dir:
        rec.body_blocks = fmt.directory_block_count(_entries(rec))
    elif stat.S_ISLNK(node.mode) and len(node.target) > fmt.FAST_SYMLINK_MAX:
        if len(node.target) >= BLOCK:
            raise fmt.FormatError("a symlink target is at most 4095 bytes")
        rec.body_blocks = 1
    elif stat.S_ISREG(node.mode):
        rec.extents = fmt.split_extents(node.extents)
    if node.xattrs:
        inline = fmt.inline_xattrs(node.xattrs)
        rec.inline = inline or b""
        rec.xattr_block = 0 if inline else -1


def _body(rec: _Inode) -> bytes:
    if rec.node.is_dir:
        return fmt.directory_blocks(_entries(rec))
    return rec.node.target.ljust(BLOCK, b"\0")


def _content(inodes: list[_Inode]) -> tuple[int, int, int]:
    """(data bytes in whole blocks, apparent bytes, entries), hard links counted once."""
    data = apparent = 0
    for rec in inodes:
        if stat.S_ISREG(rec.node.mode):
            data += sum(c for _, c in rec.extents) * BLOCK
            apparent += rec.node.size
    return data, apparent, sum(len(rec.node.children) for rec in inodes)


def _inode_bitmap(used: int, per_group: int) -> bytes:
    """The first `used` inodes taken; the bits past the group's inodes set, as e2fsck wants."""
    bits = ((1 << used) - 1) | (((1 << (BLOCK * 8)) - 1) ^ ((1 << per_group) - 1))
    return bits.to_bytes(BLOCK, "little")


class Bitmap:
    """Used blocks of the whole filesystem; blocks past its end are marked used."""

    def __init__(self, blocks: int, groups: int) -> None:
        self.bits = bytearray(groups * fmt.BLOCKS_PER_GROUP // 8)
        self.mark(blocks, groups * fmt.BLOCKS_PER_GROUP - blocks)

    def mark(self, start: int, count: int) -> None:
        end = start + count
        while start < end and start % 8:
            self.bits[start // 8] |= 1 << (start % 8)
            start += 1
        full = (end - start) // 8
        self.bits[start // 8 : start // 8 + full] = b"\xff" * full
        start += full * 8
        while start < end:
            self.bits[start // 8] |= 1 << (start % 8)
            start += 1

    def group(self, g: int) -> bytes:
        size = fmt.BLOCKS_PER_GROUP // 8
        return bytes(self.bits[g * size : (g + 1) * size])

    def free_in(self, g: int) -> int:
        return fmt.BLOCKS_PER_GROUP - int.from_bytes(self.group(g), "little").bit_count()
