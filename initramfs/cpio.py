"""A reproducible newc ("070701") cpio writer, and a reader to verify what it wrote.

Reproducible means the bytes depend on the files' contents and names only: entries are
sorted, every mtime is SOURCE_DATE_EPOCH, owner and group are root, inode numbers count up
in sorted order, and permissions are normalised (0755 for directories and executables,
0644 for other files). Device nodes are plain entries, so no root is needed to write them.
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from initramfs.errors import BuildError

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
HEADER_SIZE = 110
DEFAULT_EPOCH = 1700000000  # used when SOURCE_DATE_EPOCH is not set


@dataclass(frozen=True)
class Entry:
    """One archive member. `mode` includes the file type bits (stat.S_IFREG | 0o644…)."""

    name: str  # relative, no leading slash: "bin/sh"
    mode: int
    data: bytes = b""
    source: Path | None = None  # regular files: read at write time
    rdev: tuple[int, int] = (0, 0)

    def payload(self) -> bytes:
        return self.source.read_bytes() if self.source is not None else self.data


def directory(name: str) -> Entry:
    return Entry(name, stat.S_IFDIR | 0o755)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, stat.S_IFLNK | 0o777, target.encode())


def char_device(name: str, major: int, minor: int, perms: int = 0o600) -> Entry:
    return Entry(name, stat.S_IFCHR | perms, rdev=(major, minor))


def source_date_epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.isdigit() else DEFAULT_EPOCH


def scan(root: Path) -> list[Entry]:
    """Entries for everything under `root` (directories, files, symlinks)."""
    entries = []
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            entries.append(symlink(name, os.readlink(path)))
        elif stat.S_ISDIR(info.st_mode):
            entries.append(directory(name))
        elif stat.S_ISREG(info.st_mode):
            perms = 0o755 if info.st_mode & 0o111 else 0o644
            entries.append(Entry(name, stat.S_IFREG | perms, source=path))
        else:
            raise BuildError(f"{path}: unsupported file type in the staging tree")
    return entries


def _header(ino: int, entry: Entry, size: int, mtime: int) -> bytes:
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    name = entry.name.encode() + b"\0"
    fields = (ino, entry.mode, 0, 0, nlink, mtime, size, 0, 0, *entry.rdev, len(name), 0)
    head = MAGIC + b"".join(b"%08X" % f for f in fields) + name
    return head + _pad(len(head))


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def write(entries: Iterable[Entry], out: BinaryIO, mtime: int | None = None) -> None:
    """Write `entries` sorted by name; duplicate names are an error."""
    mtime = source_date_epoch() if mtime is None else mtime
    ordered = sorted(entries, key=lambda e: e.name)
    for before, after in itertools.pairwise(ordered):
        if before.name == after.name:
            raise BuildError(f"two archive entries named {before.name!r}")
    for ino, entry in enumerate(ordered, start=1):
        data = entry.payload()
        out.write(_header(ino, entry, len(data), mtime))
        out.write(data + _pad(len(data)))
    out.write(_header(0, Entry(TRAILER, 0), 0, 0))


@dataclass(frozen=True)
class Member:
    name: str
    mode: int
    mtime: int
    data: bytes
    rdev: tuple[int, int]
    ino: int


def read(blob: bytes) -> Iterator[Member]:
    """The members of a newc archive, trailer excluded."""
    at = 0
    while True:
        if blob[at : at + 6] != MAGIC:
            raise BuildError(f"bad newc magic at offset {at}")
        f = [int(blob[at + 6 + 8 * i : at + 14 + 8 * i], 16) for i in range(13)]
        name_end = at + HEADER_SIZE + f[11]
        name = blob[at + HEADER_SIZE : name_end - 1].decode()
        start = name_end + (-name_end % 4)
        end = start + f[6]
        if name == TRAILER:
            return
        yield Member(name, f[1], f[5], blob[start:end], (f[9], f[10]), f[0])
        at = end + (-end % 4)
