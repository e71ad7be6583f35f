"""What the runner tests watch: output lines, progress, the attempt's cgroup and mounts."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from agent.cgroup import find_cgroup2, own_path


def cgroup_mount() -> Path:
    found = find_cgroup2(Path("/proc/self/mountinfo").read_text())
    assert found, "no cgroup2 mount on this host"
    return Path(found) / own_path(Path("/proc/self/cgroup").read_text()).lstrip("/")


def groups_named(name: str) -> list[Path]:
    """The attempt groups the runner made for an action called `name` that still exist."""
    return sorted(cgroup_mount().glob(f"metalinit-{name}-*"))


def mounts_under(path: Path) -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split()[4] for line in lines if line.split()[4].startswith(str(path))]


@dataclass
class Watch:
    on_line: Callable[[str], None] | None = None
    lines: list[str] = field(default_factory=list)
    progressed: list[tuple[int, int | None]] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)
        if self.on_line:
            self.on_line(line)

    def progress(self, done: int, total: int | None) -> None:
        self.progressed.append((done, total))

    def note_group(self, name: str) -> None:
        """Record every pid in the action's group, seen from the host (while it runs)."""
        for group in groups_named(name):
            self.pids += [int(p) for p in (group / "cgroup.procs").read_text().split()]


LEAKED_FD = 77


@contextmanager
def inheritable_fd() -> Iterator[int]:
    """A descriptor the agent left inheritable (fd 77), which no action may receive."""
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, LEAKED_FD, inheritable=True)
    os.close(fd)
    try:
        yield LEAKED_FD
    finally:
        os.close(LEAKED_FD)
