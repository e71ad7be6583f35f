"""After a whole disk was written: make the kernel see the partitions now on it.

BLKRRPART asks the kernel to read the table itself. A kernel built without the table's
parser (this development host's reads neither MBR nor GPT) then knows no partitions, so the
agent reads the table with its own reader and tells the kernel each partition with BLKPG,
as `partx -a` does; partitions the kernel still lists from an older table are deleted
first. devtmpfs makes the nodes (/dev/loop0p1, /dev/nvme0n1p1, /dev/sda1) either way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.blockdev import BlockDevError
from agent.blockdev.partitions import PartitionTable
from agent.blockdev.probe import read_table
from agent.syscalls import SyscallError, Syscalls

SYSFS_SECTOR = 512
NODE_WAIT = 5.0  # seconds for devtmpfs to show a new partition's node


@dataclass(frozen=True)
class Change:
    op: str  # "add" or "del"
    number: int
    start: int = 0  # bytes
    size: int = 0

    def __str__(self) -> str:
        if self.op == "del":
            return f"delete partition {self.number}"
        return f"add partition {self.number} at byte {self.start}, {self.size} bytes"


def plan(table: PartitionTable | None, present: dict[int, tuple[int, int]]) -> list[Change]:
    """What to tell the kernel so that it lists exactly the table's partitions. Pure.
    `present` maps the kernel's partition numbers to (start, size) in bytes."""
    wanted = {p.number: (p.start, p.size) for p in table.partitions} if table else {}
    extended = table.extended.number if table and table.extended else None
    changes = [
        Change("del", number)
        for number, place in sorted(present.items())
        if number != extended and wanted.get(number) != place
    ]
    changes += [
        Change("add", number, start, size)
        for number, (start, size) in sorted(wanted.items())
        if present.get(number) != (start, size)
    ]
    return changes


def kernel_partitions(disk: str, sys_root: Path = Path("/sys")) -> dict[int, tuple[int, int]]:
    """The partitions the kernel lists for `disk` (a name such as loop0), from sysfs."""
    found: dict[int, tuple[int, int]] = {}
    base = sys_root / "class/block" / disk
    try:
        entries = list(base.iterdir())
    except OSError as e:
        raise BlockDevError(f"cannot list {base}: {e.strerror}") from e
    for entry in entries:
        try:
            number = int((entry / "partition").read_text())
            start = int((entry / "start").read_text()) * SYSFS_SECTOR
            size = int((entry / "size").read_text()) * SYSFS_SECTOR
        except (OSError, ValueError):
            continue  # not a partition directory
        found[number] = (start, size)
    return found


def is_whole_disk(path: str, sys_root: Path = Path("/sys")) -> bool:
    st = os.stat(path)
    node = sys_root / "dev/block" / f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    return not (node / "partition").exists()


def rescan(
    path: str,
    fd: int,
    sys: Syscalls,
    say: Callable[[str], None] = print,
    sys_root: Path = Path("/sys"),
    dev_root: Path = Path("/dev"),
) -> list[str]:
    """Make the kernel list the partitions on the disk at `path` (open as `fd`); returns
    their nodes."""
    disk = _sysfs_name(path, sys_root)
    try:
        sys.blkrrpart(fd)
    except SyscallError as e:
        say(f"{path}: the kernel did not re-read the partition table ({e.strerror}); "
            "telling it each partition instead")  # fmt: skip
    table = read_table(path)
    changes = plan(table, kernel_partitions(disk, sys_root))
    for change in changes:
        say(f"{path}: {change}")
        if change.op == "del":
            sys.blkpg_del(fd, change.number)
        else:
            sys.blkpg_add(fd, change.number, change.start, change.size)
    if table is None:
        return []
    nodes = [dev_root / name for name in _partition_names(disk, sys_root)]
    deadline = time.monotonic() + NODE_WAIT
    while not all(node.exists() for node in nodes) and time.monotonic() < deadline:
        time.sleep(0.05)
    missing = [str(node) for node in nodes if not node.exists()]
    if missing and changes:
        say(f"{path}: no device node appeared for {', '.join(missing)} (is /dev a devtmpfs?)")
    return [str(node) for node in nodes]


def _sysfs_name(path: str, sys_root: Path) -> str:
    st = os.stat(path)
    link = sys_root / "dev/block" / f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    return link.resolve().name


def _partition_names(disk: str, sys_root: Path) -> list[str]:
    base = sys_root / "class/block" / disk
    names = []
    for entry in base.iterdir():
        try:
            number = int((entry / "partition").read_text())
        except (OSError, ValueError):
            continue
        names.append((number, entry.name.replace("!", "/")))
    return [name for _, name in sorted(names)]
