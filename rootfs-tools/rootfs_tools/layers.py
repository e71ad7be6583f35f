"""Apply OCI layer tars, in order, into a staging tree, following the image-spec rules.

Rules (image-spec layer.md):
- `.wh.NAME` removes NAME from lower layers only; entries this layer made stay.
- `.wh..wh..opq` hides every lower child of its directory, as if it came first there.
- Other `.wh..wh.*` names are AUFS metadata and are skipped; a bare `.wh.` is an error.
- Attributes in this order: owner, xattrs, mode (chown clears setuid), times.
- A tar path is `unsafe_path` until `secure_join()` accepted it: no absolute paths, no `..`,
  no parent that is a symlink (we never follow a symlink already in the tree). Symlink
  targets are stored as they are, absolute or not; they are data, never resolved here.
- Sparse entries are refused (the spec says not to use them; they are how a 10 GB bomb
  fits in a few bytes).
- `check_member()` refuses what no filesystem object can be: a uid/gid outside 0..2^32-1,
  an mtime that is not a finite number, a negative size, a NUL in a path, link target or
  xattr name, an empty symlink target, an xattr name that is not UTF-8 or over 255 bytes.
"""

from __future__ import annotations

import math
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, cast

from rootfs_tools.errors import UnsafeLayerError

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
AUFS_META = ".wh..wh."
XATTR_PAX = "SCHILY.xattr."
COPY_CHUNK = 1 << 20
ID_LIMIT = 1 << 32
XATTR_NAME_MAX = 255  # the VFS limit: a longer name cannot be read back (ERANGE)


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class _Rejoined:
    """A stream whose first bytes were read to see whether it is empty."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self.head, self.rest = head, rest

    def read(self, n: int = -1, /) -> bytes:
        if not self.head:
            return self.rest.read(n)
        if 0 <= n < len(self.head):
            data, self.head = self.head[:n], self.head[n:]
            return data
        data, self.head = self.head, b""
        return data + (self.rest.read(n - len(data)) if n > len(data) else b"")


def unless_empty(stream: Readable) -> Readable | None:
    """None for a 0-byte layer (or a gzip of nothing): an empty layer, as umoci takes it."""
    head = stream.read(1)
    return _Rejoined(head, stream) if head else None


def forget_headers(tar: tarfile.TarFile) -> None:
    """tarfile keeps every header it has read, even when streaming: 200 000 TarInfo objects
    add up. Its iterator reads on from the stream when the list is empty."""
    cast(Any, tar).members = []


def clean(unsafe_path: str) -> str:
    """A tar member name as a relative path; '' is the root. Refuses '/' and '..'."""
    if unsafe_path.startswith("/"):
        raise UnsafeLayerError(f"{unsafe_path!r}: absolute path in a layer")
    parts = [p for p in unsafe_path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeLayerError(f"{unsafe_path!r}: '..' would climb out of the root")
    return "/".join(parts)


def check_member(member: tarfile.TarInfo) -> None:
    """Refuse an entry that no filesystem object can be; the message names the entry."""
    unsafe_path = member.name
    problem = ""
    if "\0" in unsafe_path or "\0" in member.linkname:
        problem = "a NUL byte in its path or link target"
    elif not (0 <= member.uid < ID_LIMIT and 0 <= member.gid < ID_LIMIT):
        problem = f"uid {member.uid} / gid {member.gid}: owners are 0 to {ID_LIMIT - 1}"
    elif not math.isfinite(member.mtime):
        problem = f"mtime {member.mtime}: not a time"
    elif member.size < 0:
        problem = f"size {member.size}: negative"
    elif member.type == tarfile.SYMTYPE and not member.linkname:
        problem = "a symlink with an empty target"
    for key in member.pax_headers:
        if problem or not key.startswith(XATTR_PAX):
            continue
        name = key.removeprefix(XATTR_PAX)
        try:
            length = len(name.encode())
        except UnicodeEncodeError:
            problem = f"xattr name {name!r} is not UTF-8"
            continue
        if "\0" in name or not name:
            problem = f"xattr name {name!r}: empty or with a NUL byte"
        elif length > XATTR_NAME_MAX:
            problem = f"xattr name of {length} bytes: at most {XATTR_NAME_MAX}"
    if problem:
        raise UnsafeLayerError(f"{unsafe_path!r}: {problem}; no filesystem can hold it")


def hidden_by(rel: str, name: str) -> str:
    """What the whiteout `name` (at rel) hides: OPAQUE for all of its directory's lower
    children, a sibling's name, or "" for AUFS metadata, which hides nothing."""
    if name == OPAQUE:
        return OPAQUE
    if name.startswith(AUFS_META):
        return ""
    victim = name.removeprefix(WHITEOUT)
    if not victim:
        raise UnsafeLayerError(f"{rel!r}: a whiteout must name what it removes")
    return victim


def secure_join(root: str, rel: str, *, make_parents: bool) -> str:
    """root/rel, after checking that no existing parent of it is a symlink or a file."""
    here = root
    parts = rel.split("/") if rel else []
    for part in parts[:-1]:
        here = os.path.join(here, part)
        try:
            mode = os.lstat(here).st_mode
        except FileNotFoundError:
            if not make_parents:
                raise
            os.mkdir(here, 0o755)
            continue
        if stat.S_ISLNK(mode):
            raise UnsafeLayerError(
                f"{rel!r}: parent {here[len(root) + 1 :]!r} is a symlink; refusing to follow it"
            )
        if not stat.S_ISDIR(mode):
            raise UnsafeLayerError(f"{rel!r}: parent {here[len(root) + 1 :]!r} is not a directory")
    return os.path.join(root, rel) if rel else root


def remove_tree(top: str) -> None:
    """shutil.rmtree without recursion: a layer's tree may be thousands deep."""
    stack = [(top, False)]
    while stack:
        path, emptied = stack.pop()
        if emptied:
            os.rmdir(path)
            continue
        stack.append((path, True))
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, False))
                else:
                    os.unlink(entry.path)


def _remove(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        remove_tree(path)
    else:
        os.unlink(path)


@dataclass
class LayerState:
    """What one layer has done so far: whiteouts only touch what lower layers made."""

    root: str
    created: set[str] = field(default_factory=set)
    above_created: set[str] = field(default_factory=set)
    dir_times: list[tuple[str, float]] = field(default_factory=list)
    entries: int = 0

    def made(self, rel: str) -> None:
        self.created.add(rel)
        parent = rel.rpartition("/")[0]
        while parent and parent not in self.above_created:
            self.above_created.add(parent)
            parent = parent.rpartition("/")[0]

    def prune(self, rel: str) -> None:
        """Remove what lower layers put at rel, keeping what this layer made there."""
        stack = [rel]
        while stack:
            rel = stack.pop()
            path = os.path.join(self.root, rel) if rel else self.root
            if rel and rel not in self.created and rel not in self.above_created:
                _remove(path)
            elif os.path.isdir(path) and not os.path.islink(path):
                stack.extend(f"{rel}/{child}" if rel else child for child in os.listdir(path))


def _whiteout(state: LayerState, rel: str) -> None:
    parent, _, name = rel.rpartition("/")
    try:
        secure_join(state.root, rel, make_parents=False)
    except FileNotFoundError:
        return  # its directory does not exist: nothing below to hide
    victim = hidden_by(rel, name)
    if victim == OPAQUE:
        directory = os.path.join(state.root, parent) if parent else state.root
        if os.path.isdir(directory) and not os.path.islink(directory):
            for child in os.listdir(directory):
                state.prune(f"{parent}/{child}" if parent else child)
    elif victim:
        state.prune(f"{parent}/{victim}" if parent else victim)


def _attributes(path: str, member: tarfile.TarInfo, *, is_link: bool = False) -> None:
    os.lchown(path, member.uid, member.gid)
    for key, value in member.pax_headers.items():
        if key.startswith(XATTR_PAX):
            raw = value.encode("utf-8", "surrogateescape")
            os.setxattr(path, key.removeprefix(XATTR_PAX), raw, follow_symlinks=False)
    if not is_link:
        os.chmod(path, stat.S_IMODE(member.mode))
    os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)


def _file(tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
    _remove(path)
    source = tar.extractfile(member)
    assert source is not None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(source, out, COPY_CHUNK)
    _attributes(path, member)


def _directory(state: LayerState, member: tarfile.TarInfo, path: str) -> None:
    if not (os.path.isdir(path) and not os.path.islink(path)):
        _remove(path)
        os.mkdir(path, 0o700)
    _attributes(path, member)
    state.dir_times.append((path, member.mtime))


def _symlink(member: tarfile.TarInfo, path: str) -> None:
    _remove(path)
    os.symlink(member.linkname, path)
    _attributes(path, member, is_link=True)


def _hardlink(state: LayerState, member: tarfile.TarInfo, rel: str, path: str) -> None:
    target_rel = clean(member.linkname)
    try:
        source = secure_join(state.root, target_rel, make_parents=False)
    except FileNotFoundError:
        source = ""
    if not target_rel or not source or not os.path.lexists(source):
        raise UnsafeLayerError(f"{rel!r}: hard link to {member.linkname!r}, which the image lacks")
    if os.path.isdir(source) and not os.path.islink(source):
        raise UnsafeLayerError(f"{rel!r}: hard link to the directory {member.linkname!r}")
    if source == path:
        return
    _remove(path)
    os.link(source, path, follow_symlinks=False)


def _special(member: tarfile.TarInfo, path: str) -> None:
    _remove(path)
    if member.isfifo():
        os.mkfifo(path, 0o600)
    else:
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
    _attributes(path, member)


def _entry(tar: tarfile.TarFile, state: LayerState, member: tarfile.TarInfo) -> None:
    unsafe_path = member.name
    rel = clean(unsafe_path)
    check_member(member)
    if rel.rpartition("/")[2].startswith(WHITEOUT):
        _whiteout(state, rel)
        return
    if not rel and not member.isdir():
        raise UnsafeLayerError(f"{unsafe_path!r}: the root can only be a directory")
    if member.sparse is not None or member.type == tarfile.GNUTYPE_SPARSE:
        raise UnsafeLayerError(f"{unsafe_path!r}: sparse tar entries are refused")
    path = secure_join(state.root, rel, make_parents=True)
    match member.type:
        case tarfile.REGTYPE | tarfile.AREGTYPE | tarfile.CONTTYPE:
            _file(tar, member, path)
        case tarfile.DIRTYPE:
            _directory(state, member, path)
        case tarfile.SYMTYPE:
            _symlink(member, path)
        case tarfile.LNKTYPE:
            _hardlink(state, member, rel, path)
        case tarfile.CHRTYPE | tarfile.BLKTYPE | tarfile.FIFOTYPE:
            _special(member, path)
        case _:
            raise UnsafeLayerError(f"{unsafe_path!r}: unsupported tar entry type {member.type!r}")
    if rel:
        state.made(rel)
    state.entries += 1


def apply_layer(root: str, stream: Readable) -> int:
    """Apply one uncompressed layer tar read from `stream`; returns its entry count.

    A damaged stream raises tarfile.TarError (or the decompressor's error) to the caller,
    which knows whether the blob's digest explains it."""
    state = LayerState(root)
    tar_stream = unless_empty(stream)
    if tar_stream is None:
        return 0
    with tarfile.open(fileobj=cast(IO[bytes], tar_stream), mode="r|", errorlevel=2) as tar:
        for member in tar:
            _entry(tar, state, member)
            forget_headers(tar)
    for path, mtime in reversed(state.dir_times):
        if os.path.isdir(path):
            os.utime(path, (mtime, mtime), follow_symlinks=False)
    return state.entries
