"""The disk an image is written to: opened exclusively, sized, and wiped after a failure.

A block device is opened with O_EXCL, which the kernel refuses while the disk or one of its
partitions is mounted or held by another program, so an image is never written under a
mounted filesystem. A regular file is accepted too (an image file, for tests and for
preparing images); it has no size limit and no partitions to rescan.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import struct
from dataclasses import dataclass

from agent.actions import ActionError

BLKGETSIZE64 = 0x80081272
WIPE = 1 << 20  # the first and last MiB hold the MBR, the GPT and its backup


@dataclass
class Target:
    path: str
    fd: int
    size: int | None  # bytes; None for a regular file
    is_block: bool

    def write_all(self, data: bytes | memoryview, offset: int) -> None:
        view = memoryview(data)
        while view:
            done = os.pwrite(self.fd, view, offset)
            view, offset = view[done:], offset + done

    def wipe(self) -> str:
        """Zero the first and last MiB, so no firmware or later action takes the partial
        image for a disk; returns what was done, for the error message."""
        try:
            zeros = bytes(WIPE)
            self.write_all(zeros, 0)
            if self.size is not None and self.size > WIPE:
                self.write_all(zeros, self.size - WIPE)
            os.fsync(self.fd)
        except OSError as e:
            return f"wiping its partition table failed too ({e.strerror})"
        return "its first and last MiB were zeroed, so nothing boots from the partial image"

    def close(self) -> None:
        os.close(self.fd)


def open_target(path: str, variable: str) -> Target:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ActionError(f"{variable}={path}: no such device; {_disks_here()}") from None
    except OSError as e:
        raise ActionError(f"{variable}={path}: {e.strerror}") from None
    if stat.S_ISBLK(mode):
        flags = os.O_WRONLY | os.O_EXCL | os.O_CLOEXEC
    elif stat.S_ISREG(mode):
        flags = os.O_WRONLY | os.O_CLOEXEC
    else:
        raise ActionError(f"{variable}={path}: neither a block device nor an image file")
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.EBUSY:
            raise ActionError(
                f"{variable}={path} is in use (mounted, or a partition of it is, or another "
                "program holds it): unmount it first"
            ) from None
        raise ActionError(f"{variable}={path}: cannot open it for writing: {e.strerror}") from None
    if not stat.S_ISBLK(mode):
        return Target(path, fd, None, False)
    size = struct.unpack("Q", fcntl.ioctl(fd, BLKGETSIZE64, bytes(8)))[0]
    return Target(path, fd, size, True)


def _disks_here() -> str:
    try:
        names = sorted(n for n in os.listdir("/sys/block") if _has_size(n))
    except OSError:
        return "cannot list /sys/block"
    return f"the disks here are: {', '.join(names)}" if names else "this machine shows no disks"


def _has_size(name: str) -> bool:
    try:
        with open(f"/sys/block/{name}/size") as f:
            return int(f.read()) > 0
    except (OSError, ValueError):
        return False
