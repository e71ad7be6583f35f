"""cgroup v2 groups for action attempts: create one, kill everything in it, remove it.

Only the core interface files are used (cgroup.procs, cgroup.kill, cgroup.freeze,
cgroup.events); no controller is enabled, so the group works on a hybrid host that
delegates none. The cgroup2 mount is found in /proc/self/mountinfo, never assumed: a hybrid
host has it at /sys/fs/cgroup/unified. The initramfs has none until `ensure_mounted()`.

Killing: `cgroup.kill` (Linux 5.14+) SIGKILLs every process of the group and its
descendants at once, so a fork bomb cannot outrun it. Without it the group is frozen, each
pid in cgroup.procs gets SIGKILL (a fatal signal reaches a frozen task) and the group is
thawed, until nothing is left.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from agent.errors import AgentError
from agent.syscalls import MS_NODEV, MS_NOEXEC, MS_NOSUID, Syscalls

DEFAULT_MOUNT = "/sys/fs/cgroup"
FALLBACK_MOUNT = "/run/metalinit/cgroup2"
EMPTY_WAIT_SECONDS = 10.0
_serial = itertools.count(1)


class CgroupError(AgentError):
    pass


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape")


def find_cgroup2(mountinfo: str) -> str | None:
    """The mount point of the first cgroup2 filesystem in mountinfo text, or None."""
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        fstype = fields[fields.index("-") + 1]
        if fstype == "cgroup2" and fields[3] == "/":
            return _unescape(fields[4])
    return None


def own_path(proc_cgroup: str) -> str:
    """This process's place in the v2 hierarchy, from /proc/self/cgroup ("0::/path")."""
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:].removesuffix(" (deleted)") or "/"
    return "/"


def parse_events(text: str) -> dict[str, int]:
    """cgroup.events ("populated 1\\nfrozen 0\\n") as a dict."""
    events = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            events[key] = int(value)
    return events


def mount_target(default_listing: list[str] | None) -> str:
    """Where to mount cgroup2: /sys/fs/cgroup unless a v1 layout already fills it."""
    return FALLBACK_MOUNT if default_listing else DEFAULT_MOUNT


def ensure_mounted(sys: Syscalls, mountinfo_path: str = "/proc/self/mountinfo") -> Path:
    """The cgroup2 mount point; mounts one (at /sys/fs/cgroup when free) if there is none."""
    found = find_cgroup2(Path(mountinfo_path).read_text())
    if found:
        return Path(found)
    try:
        listing: list[str] | None = os.listdir(DEFAULT_MOUNT)
    except FileNotFoundError:
        listing = None
    target = mount_target(listing)
    os.makedirs(target, exist_ok=True)
    try:
        sys.mount("cgroup2", target, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError as err:
        raise CgroupError(
            f"cannot mount cgroup2 at {target}: {err} (a kernel without CONFIG_CGROUPS? "
            "actions need it to be killed with everything they started)"
        ) from None
    return Path(target)


@dataclass(frozen=True)
class Group:
    path: Path

    @classmethod
    def create(cls, label: str, sys: Syscalls | None = None) -> Group:
        """A new, empty group beside this process's own, named after `label`."""
        mount = ensure_mounted(sys or Syscalls())
        parent = mount / own_path(Path("/proc/self/cgroup").read_text()).lstrip("/")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)[:64]
        path = parent / f"metalinit-{safe}-{os.getpid()}-{next(_serial)}"
        try:
            path.mkdir()
        except OSError as err:
            raise CgroupError(f"cannot create the cgroup {path}: {err}") from None
        return cls(path)

    def join(self, pid: int = 0) -> None:
        """Move `pid` (0: the calling process) into the group."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        pids: set[int] = set()
        for procs in self.path.rglob("cgroup.procs"):
            try:
                pids.update(int(p) for p in procs.read_text().split())
            except OSError:
                pass  # a child group that went away meanwhile
        return sorted(pids)

    def populated(self) -> bool:
        try:
            events = parse_events((self.path / "cgroup.events").read_text())
        except FileNotFoundError:
            return False
        return bool(events.get("populated", 0))

    def kill(self, *, use_kill_file: bool = True) -> None:
        """SIGKILL every process in the group and below; returns at once (see wait_empty)."""
        kill_file = self.path / "cgroup.kill"
        if use_kill_file and kill_file.exists():
            kill_file.write_text("1")
            return
        self._freeze_and_kill()

    def _freeze_and_kill(self) -> None:
        freeze = self.path / "cgroup.freeze"
        frozen = freeze.exists()
        deadline = time.monotonic() + EMPTY_WAIT_SECONDS
        while (pids := self.pids()) and time.monotonic() < deadline:
            if frozen:
                freeze.write_text("1")
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if frozen:
                freeze.write_text("0")
            time.sleep(0.01)

    def wait_empty(self, seconds: float = EMPTY_WAIT_SECONDS) -> bool:
        deadline = time.monotonic() + seconds
        while self.populated():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def remove(self) -> None:
        """rmdir the group and any child groups an action made, deepest first."""
        for child in sorted(self.path.rglob("*/"), key=lambda p: -len(p.parts)):
            if child.is_dir():
                child.rmdir()
        self.path.rmdir()
