"""Layers applied to a tree held in memory, by the same image-spec rules as `layers.py`.

No staging directory: a regular file's bytes go straight to the disk image through a
`DataSink`, and the tree keeps only where they went. Ownership, device nodes and xattrs are
plain data here, so no privilege is needed to keep them. Containment is the same as the
staging applier's: no absolute paths, no `..`, never through a symlink already in the tree.
"""

from __future__ import annotations

import stat
import tarfile
from collections.abc import Callable
from typing import IO, cast

from rootfs_tools.errors import UnsafeLayerError
from rootfs_tools.layers import (
    OPAQUE,
    WHITEOUT,
    XATTR_PAX,
    Readable,
    check_member,
    clean,
    forget_headers,
    hidden_by,
    unless_empty,
)

Extent = tuple[int, int]  # (first block, block count)
# ext4's times: 32 signed bits of seconds and 2 epoch bits, 1901-12-13 to 2446-05-10. Others
# are clamped to the nearest, as the kernel does.
MIN_TIME, MAX_TIME = -(1 << 31), (1 << 34) - (1 << 31) - 1
DataSink = Callable[[Readable, int], list[Extent]]


class Node:
    """One inode: hard links are several directory entries naming the same Node."""

    __slots__ = (
        "children", "extents", "gid", "ino", "links", "made_in", "mode", "mtime", "rdev", "size",
        "target", "uid", "xattrs",
    )  # fmt: skip

    def __init__(self, mode: int, uid: int = 0, gid: int = 0, mtime: float = 0.0) -> None:
        self.mode, self.uid, self.gid, self.mtime = mode, uid, gid, mtime
        self.xattrs: dict[str, bytes] = NO_XATTRS
        # A directory's entries, and the layer that last made each (or something below it).
        # Other nodes share one empty dict that nothing writes to: only directories get
        # children (every caller checks is_dir), and 30 000 pairs of dicts add up.
        directory = stat.S_ISDIR(mode)
        self.children: dict[str, Node] = {} if directory else NO_CHILDREN
        self.made_in: dict[str, int] = {} if directory else NO_LAYERS
        self.extents: list[Extent] = []  # a regular file's blocks in the image
        self.size = 0
        self.target = b""  # a symlink's
        self.rdev = (0, 0)  # a device's (major, minor)
        self.ino = self.links = 0  # given by the filesystem writer

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


NO_XATTRS: dict[str, bytes] = {}
NO_CHILDREN: dict[str, Node] = {}
NO_LAYERS: dict[str, int] = {}


def clamp_time(t: float) -> float:
    return min(max(t, MIN_TIME), MAX_TIME)


def _with_attributes(node: Node, member: tarfile.TarInfo) -> Node:
    node.uid, node.gid, node.mtime = member.uid, member.gid, clamp_time(member.mtime)
    xattrs = {
        key.removeprefix(XATTR_PAX): value.encode("utf-8", "surrogateescape")
        for key, value in member.pax_headers.items()
        if key.startswith(XATTR_PAX)
    }
    node.xattrs = xattrs or NO_XATTRS
    return node


class ImageTree:
    """The image's filesystem tree, built layer by layer."""

    def __init__(self, sink: DataSink, implicit_mtime: float = 0.0) -> None:
        self.root = Node(stat.S_IFDIR | 0o755, mtime=implicit_mtime)
        self.sink = sink
        self.implicit_mtime = implicit_mtime
        self.layer = 0
        self.clamped = ""  # the first entry whose mtime ext4 cannot hold

    def _parent(self, rel: str, *, make: bool) -> tuple[Node, str] | None:
        """The directory that holds rel, and rel's last name; None if a parent is missing.

        With `make`, missing parents are made and every parent is marked as made by this
        layer (whiteouts in this layer leave them alone)."""
        here, walked = self.root, ""
        *parents, name = rel.split("/")
        for part in parents:
            walked = f"{walked}/{part}" if walked else part
            child = here.children.get(part)
            if child is None:
                if not make:
                    return None
                child = here.children[part] = Node(stat.S_IFDIR | 0o755, mtime=self.implicit_mtime)
            elif stat.S_ISLNK(child.mode):
                raise UnsafeLayerError(
                    f"{rel!r}: parent {walked!r} is a symlink; refusing to follow it"
                )
            elif not child.is_dir:
                raise UnsafeLayerError(f"{rel!r}: parent {walked!r} is not a directory")
            if make:
                here.made_in[part] = self.layer
            here = child
        return here, name

    def _put(self, parent: Node, name: str, node: Node) -> None:
        parent.children[name] = node
        parent.made_in[name] = self.layer

    def _prune(self, parent: Node, name: str) -> None:
        """Remove what lower layers put at parent/name, keeping what this layer made.
        A loop, not recursion: a layer may make and hide a tree thousands deep."""
        stack = [(parent, name)]
        while stack:
            parent, name = stack.pop()
            if parent.made_in.get(name, -1) < self.layer:
                parent.children.pop(name, None)
                parent.made_in.pop(name, None)
                continue
            child = parent.children[name]
            if child.is_dir:
                stack.extend((child, grandchild) for grandchild in child.children)

    def _whiteout(self, rel: str) -> None:
        found = self._parent(rel, make=False)
        if found is None:
            return  # its directory does not exist: nothing below to hide
        parent, name = found
        victim = hidden_by(rel, name)
        if victim == OPAQUE:
            for child in list(parent.children):
                self._prune(parent, child)
        elif victim in parent.children:
            self._prune(parent, victim)

    def _hardlink(self, member: tarfile.TarInfo, rel: str) -> Node:
        target_rel = clean(member.linkname)
        found = self._parent(target_rel, make=False) if target_rel else None
        source = found[0].children.get(found[1]) if found else None
        if source is None:
            raise UnsafeLayerError(
                f"{rel!r}: hard link to {member.linkname!r}, which the image lacks"
            )
        if source.is_dir:
            raise UnsafeLayerError(f"{rel!r}: hard link to the directory {member.linkname!r}")
        return source

    def _entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        unsafe_path = member.name
        rel = clean(unsafe_path)
        check_member(member)
        if rel.rpartition("/")[2].startswith(WHITEOUT):
            self._whiteout(rel)
            return
        if not self.clamped and clamp_time(member.mtime) != member.mtime:
            self.clamped = unsafe_path
        if not rel:
            if not member.isdir():
                raise UnsafeLayerError(f"{unsafe_path!r}: the root can only be a directory")
            _with_attributes(self.root, member).mode = stat.S_IFDIR | stat.S_IMODE(member.mode)
            return
        if member.sparse is not None or member.type == tarfile.GNUTYPE_SPARSE:
            raise UnsafeLayerError(f"{unsafe_path!r}: sparse tar entries are refused")
        found = self._parent(rel, make=True)
        assert found is not None
        parent, name = found
        kind = stat.S_IMODE(member.mode)
        match member.type:
            case tarfile.REGTYPE | tarfile.AREGTYPE | tarfile.CONTTYPE:
                node = _with_attributes(Node(stat.S_IFREG | kind), member)
                source = tar.extractfile(member)
                assert source is not None
                node.extents, node.size = self.sink(source, member.size), member.size
            case tarfile.DIRTYPE:
                node = parent.children.get(name) or Node(stat.S_IFDIR)
                if not node.is_dir:
                    node = Node(stat.S_IFDIR)
                _with_attributes(node, member).mode = stat.S_IFDIR | kind
            case tarfile.SYMTYPE:
                node = _with_attributes(Node(stat.S_IFLNK | 0o777), member)
                node.target = member.linkname.encode("utf-8", "surrogateescape")
            case tarfile.LNKTYPE:
                node = self._hardlink(member, rel)
            case tarfile.CHRTYPE | tarfile.BLKTYPE | tarfile.FIFOTYPE:
                node = _with_attributes(Node(_SPECIAL[member.type] | kind), member)
                if not member.isfifo():
                    node.rdev = (member.devmajor, member.devminor)
            case _:
                raise UnsafeLayerError(
                    f"{unsafe_path!r}: unsupported tar entry type {member.type!r}"
                )
        self._put(parent, name, node)

    def apply(self, stream: Readable) -> int:
        """Apply the next layer's uncompressed tar; returns its entry count.

        A damaged stream raises tarfile.TarError (or the decompressor's error)."""
        self.layer += 1
        entries = 0
        tar_stream = unless_empty(stream)
        if tar_stream is None:
            return 0
        with tarfile.open(fileobj=cast(IO[bytes], tar_stream), mode="r|", errorlevel=2) as tar:
            for member in tar:
                self._entry(tar, member)
                entries += 1
                forget_headers(tar)
        return entries

    def add_file(self, rel: str, data: bytes, mtime: float, *, replace: bool) -> None:
        """A file of ours (root-owned, 0644), unless a parent is not a plain directory."""
        try:
            found = self._parent(rel, make=True)
        except UnsafeLayerError:
            return  # e.g. /etc is a symlink: leave the image as it is
        assert found is not None
        parent, name = found
        if name in parent.children and not replace:
            return
        node = Node(stat.S_IFREG | 0o644, mtime=mtime)
        node.extents, node.size = self.sink(_BytesReader(data), len(data)), len(data)
        self._put(parent, name, node)


_SPECIAL = {
    tarfile.CHRTYPE: stat.S_IFCHR,
    tarfile.BLKTYPE: stat.S_IFBLK,
    tarfile.FIFOTYPE: stat.S_IFIFO,
}


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int = -1) -> bytes:
        out, self.data = (self.data, b"") if n < 0 else (self.data[:n], self.data[n:])
        return out
