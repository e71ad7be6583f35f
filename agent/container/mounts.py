"""The container's mounts, as data, and the one loop that makes them (before the root
switch, in the container's own mount namespace, so none of them reaches the host).

Privileged as Tinkerbell's Docker containers, with two differences on purpose: /dev is
the host's devtmpfs bound in (so partitions an action creates, and the agent's
/dev/disk/by-* links, appear as they would on the host), and /sys is the host's bound in
(with whatever is mounted below it). /proc is a new instance, which shows the container's
own PID namespace. Then the action's volumes, in order, so they can cover any of these.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from agent.container.paths import scoped_join
from agent.container.volumes import Volume
from agent.syscalls import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    Syscalls,
)


@dataclass(frozen=True)
class Mount:
    source: str  # a host path for a bind, else the filesystem's source name
    target: str  # inside the container
    fstype: str | None = None  # None: a recursive bind of `source`
    flags: int = 0
    data: str | None = None
    readonly: bool = False
    create: bool = True  # make the target when the image lacks it

    def __str__(self) -> str:
        what = f"bind {self.source}" if self.fstype is None else self.fstype
        return f"{what} on {self.target}" + (" (ro)" if self.readonly else "")


def table(volumes: tuple[Volume, ...]) -> tuple[Mount, ...]:
    return (
        Mount("proc", "/proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV),
        Mount("/sys", "/sys"),
        Mount("/dev", "/dev"),
        # The host's /dev/shm is bound in with /dev; a new IPC namespace wants its own.
        Mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", create=False),
        *(Mount(v.source, v.target, readonly=v.readonly) for v in volumes),
    )


def _make_target(path: str, like_directory: bool) -> None:
    if like_directory:
        os.makedirs(path, exist_ok=True)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))


def apply(sys: Syscalls, root: str, mount: Mount, say: Callable[[str], None]) -> None:
    bind = mount.fstype is None
    if bind and not os.path.exists(mount.source):
        os.makedirs(mount.source)  # as Docker does for a missing bind source
        say(f"metalinit: volume source {mount.source} did not exist: created it")
    target = scoped_join(root, mount.target)
    if not os.path.lexists(target):
        if not mount.create:
            return
        _make_target(target, not bind or os.path.isdir(mount.source))
    if bind:
        sys.mount(mount.source, target, None, MS_BIND | MS_REC)
        if mount.readonly:
            sys.mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    else:
        sys.mount(mount.source, target, mount.fstype, mount.flags, mount.data)
