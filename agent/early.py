"""The first stage: the filesystems and device nodes every later stage takes for granted.

Mounts, directories, nodes and links are data, applied by one loop. Already-mounted targets
are left alone, so the stage is idempotent (and harmless in a test's mount namespace).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from agent.context import Context
from agent.syscalls import MS_NODEV, MS_NOEXEC, MS_NOSUID, Syscalls


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    fstype: str
    flags: int = 0
    data: str | None = None
    optional: bool = False
    # Scratch space must not hide files already there: an agent run from a checkout in /tmp
    # (the PID-namespace tests) still imports its lazily loaded modules from there.
    only_if_empty: bool = False

    def __str__(self) -> str:
        return f"{self.fstype} on {self.target}"


@dataclass(frozen=True)
class Dev:
    path: str
    kind: int  # stat.S_IFCHR or stat.S_IFBLK
    major: int
    minor: int
    mode: int = 0o666

    def __str__(self) -> str:
        return f"{self.path} ({self.major}:{self.minor})"


@dataclass(frozen=True)
class Symlink:
    target: str
    path: str

    def __str__(self) -> str:
        return f"{self.path} -> {self.target}"


NOSUID_NODEV = MS_NOSUID | MS_NODEV
NOSUID_NOEXEC_NODEV = MS_NOSUID | MS_NOEXEC | MS_NODEV

DEVPTS_OPTIONS = "newinstance,ptmxmode=0666,mode=620"
DEVTMPFS = Mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", optional=True)
MOUNTS = (
    Mount("proc", "/proc", "proc", NOSUID_NOEXEC_NODEV),
    Mount("sysfs", "/sys", "sysfs", NOSUID_NOEXEC_NODEV),
    Mount("tmpfs", "/run", "tmpfs", NOSUID_NODEV, "mode=0755"),
    Mount("tmpfs", "/tmp", "tmpfs", NOSUID_NODEV, "mode=1777", only_if_empty=True),
    Mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, DEVPTS_OPTIONS),
    Mount("tmpfs", "/dev/shm", "tmpfs", NOSUID_NODEV, "mode=1777", optional=True),
)
# The nodes a system needs when devtmpfs is missing (a kernel built without it).
ESSENTIAL_NODES = (
    Dev("/dev/null", stat.S_IFCHR, 1, 3),
    Dev("/dev/zero", stat.S_IFCHR, 1, 5),
    Dev("/dev/full", stat.S_IFCHR, 1, 7),
    Dev("/dev/random", stat.S_IFCHR, 1, 8),
    Dev("/dev/urandom", stat.S_IFCHR, 1, 9),
    Dev("/dev/kmsg", stat.S_IFCHR, 1, 11, 0o644),
    Dev("/dev/tty", stat.S_IFCHR, 5, 0),
    Dev("/dev/console", stat.S_IFCHR, 5, 1, 0o600),
    Dev("/dev/ptmx", stat.S_IFCHR, 5, 2),
)
LINKS = (
    Symlink("/proc/self/fd", "/dev/fd"),
    Symlink("/proc/self/fd/0", "/dev/stdin"),
    Symlink("/proc/self/fd/1", "/dev/stdout"),
    Symlink("/proc/self/fd/2", "/dev/stderr"),
    Symlink("pts/ptmx", "/dev/ptmx"),
)


def mounted_targets(mountinfo: str) -> set[str]:
    """Mount points listed in /proc/self/mountinfo text (field 5, octal escapes decoded)."""
    targets = set()
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            targets.add(fields[4].encode().decode("unicode_escape"))
    return targets


def read_mounted(root: str = "") -> set[str]:
    try:
        return mounted_targets(Path(root + "/proc/self/mountinfo").read_text())
    except OSError:
        return set()


def apply_mount(sys: Syscalls, mount: Mount, mounted: set[str], root: str = "") -> bool:
    """Mount unless something is already mounted there; True if we mounted it."""
    if mount.target in mounted:
        return False
    os.makedirs(root + mount.target, exist_ok=True)
    if mount.only_if_empty and os.listdir(root + mount.target):
        return False
    sys.mount(mount.source, root + mount.target, mount.fstype, mount.flags, mount.data)
    mounted.add(mount.target)
    return True


def apply_node(sys: Syscalls, node: Dev, root: str = "") -> None:
    try:
        sys.mknod(root + node.path, node.kind | node.mode, os.makedev(node.major, node.minor))
    except FileExistsError:
        pass


def apply_link(link: Symlink, root: str = "") -> None:
    path = root + link.path
    if os.path.lexists(path) and not os.path.islink(path):
        return  # a real node (e.g. /dev/ptmx from devtmpfs) stays
    try:
        os.symlink(link.target, path)
    except FileExistsError:
        pass


def early_mounts(ctx: Context) -> None:
    setup_early(ctx, root="")


def setup_early(ctx: Context, root: str) -> None:
    """Mount, create and link everything in the tables above, under `root` ("" is /)."""
    os.makedirs(root + "/proc", exist_ok=True)
    mounted = read_mounted(root)
    if not mounted:  # /proc is not there yet: mount it first, then read what is mounted
        apply_mount(ctx.sys, MOUNTS[0], mounted, root)
        mounted |= read_mounted(root)
    try:
        apply_mount(ctx.sys, DEVTMPFS, mounted, root)
    except OSError as err:
        ctx.log.warn(f"devtmpfs: {err}; creating the essential device nodes instead")
        for node in ESSENTIAL_NODES:
            apply_node(ctx.sys, node, root)
    for mount in MOUNTS:
        try:
            apply_mount(ctx.sys, mount, mounted, root)
        except OSError as err:
            if not mount.optional:
                raise
            ctx.log.warn(f"{mount}: {err}")
    for link in LINKS:
        apply_link(link, root)
