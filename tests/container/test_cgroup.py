"""agent.cgroup: the parsers as tables; groups with real processes, killed both ways."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from agent.cgroup import (
    DEFAULT_MOUNT,
    FALLBACK_MOUNT,
    Group,
    ensure_mounted,
    find_cgroup2,
    mount_target,
    own_path,
    parse_events,
)
from agent.syscalls import MS_NODEV, MS_NOEXEC, MS_NOSUID, Recorder

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
UNIFIED = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
ESCAPED = r"41 31 0:38 / /run/my\040cgroups rw - cgroup2 none rw" + "\n"
BIND_OF_SUBTREE = "50 23 0:38 /machine.slice /mnt/sub rw - cgroup2 cgroup2 rw\n"
NONE = "22 1 0:21 / /proc rw - proc proc rw\n"


@pytest.mark.parametrize(
    ("mountinfo", "found"),
    [
        (HYBRID, "/sys/fs/cgroup/unified"),
        (UNIFIED, "/sys/fs/cgroup"),
        (ESCAPED, "/run/my cgroups"),
        (BIND_OF_SUBTREE, None),
        (NONE, None),
        ("", None),
    ],
)
def test_find_cgroup2(mountinfo: str, found: str | None) -> None:
    assert find_cgroup2(mountinfo) == found


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("0::/\n", "/"),
        ("12:pids:/x\n0::/system.slice/metalinit.service\n", "/system.slice/metalinit.service"),
        ("4:memory:/a\n", "/"),
        ("0::/gone (deleted)\n", "/gone"),
    ],
)
def test_own_path(text: str, path: str) -> None:
    assert own_path(text) == path


def test_parse_events() -> None:
    assert parse_events("populated 1\nfrozen 0\n") == {"populated": 1, "frozen": 0}
    assert parse_events("") == {}


@pytest.mark.parametrize(
    ("listing", "target"),
    [(None, DEFAULT_MOUNT), ([], DEFAULT_MOUNT), (["cpu", "memory"], FALLBACK_MOUNT)],
)
def test_mount_target(listing: list[str] | None, target: str) -> None:
    assert mount_target(listing) == target


def test_ensure_mounted_mounts_cgroup2_when_there_is_none(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(NONE)
    recorder = Recorder()
    target = ensure_mounted(recorder, str(mountinfo))
    assert recorder.calls == [
        ("mount", "cgroup2", str(target), "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    ]


def test_ensure_mounted_uses_the_mount_there_is(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(HYBRID)
    recorder = Recorder()
    assert ensure_mounted(recorder, str(mountinfo)) == Path("/sys/fs/cgroup/unified")
    assert recorder.calls == []


root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: cgroups")


def _tree_in(group: Group) -> subprocess.Popen[bytes]:
    """A shell in the group that starts setsid'd, double-forked sleepers and says so."""
    script = "for i in 1 2 3; do (setsid sleep 1000 &); done; echo started; sleep 1000"
    proc = subprocess.Popen(
        ["sh", "-c", script], stdout=subprocess.PIPE, preexec_fn=lambda: group.join()
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"started\n"
    return proc


@root
@pytest.mark.parametrize("use_kill_file", [True, False], ids=["cgroup.kill", "freeze+SIGKILL"])
def test_kill_takes_the_whole_tree(use_kill_file: bool) -> None:
    group = Group.create("test-kill")
    try:
        proc = _tree_in(group)
        pids = group.pids()
        assert len(pids) >= 4 and proc.pid in pids  # sh and three sleepers (and its sleep)
        group.kill(use_kill_file=use_kill_file)
        assert group.wait_empty()
        proc.wait(10)
        time.sleep(0.05)
        assert group.pids() == []
        for pid in pids:
            assert (
                not Path(f"/proc/{pid}").exists()
                or "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
            )
    finally:
        group.kill()
        group.wait_empty()
        group.remove()
    assert not group.path.exists()


@root
def test_remove_takes_child_groups_too() -> None:
    group = Group.create("test-remove")
    (group.path / "inner" / "deeper").mkdir(parents=True)
    group.remove()
    assert not group.path.exists()
