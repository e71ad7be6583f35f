"""Early mounts and nodes, against a recorder in a temporary root (the real run is in the
PID-namespace tests and under QEMU)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from agent.context import Context
from agent.early import DEVTMPFS, ESSENTIAL_NODES, MOUNTS, mounted_targets, setup_early
from agent.log import Log
from agent.syscalls import Recorder


def fake_mountinfo(root: Path, targets: list[str]) -> None:
    (root / "proc/self").mkdir(parents=True, exist_ok=True)
    lines = [f"{i} 1 0:{i} / {t} rw - x x rw" for i, t in enumerate(targets, 2)]
    (root / "proc/self/mountinfo").write_text("\n".join(lines) + "\n")


def context() -> tuple[Context, Recorder]:
    recorder = Recorder()
    return Context(recorder, Log()), recorder


def test_everything_mounted_in_order_on_an_empty_root(tmp_path: Path) -> None:
    ctx, recorder = context()
    setup_early(ctx, str(tmp_path))
    targets = [call[2] for call in recorder.calls if call[0] == "mount"]
    expected = [MOUNTS[0].target, DEVTMPFS.target] + [m.target for m in MOUNTS[1:]]
    assert targets == [str(tmp_path) + t for t in expected]
    assert os.readlink(tmp_path / "dev/fd") == "/proc/self/fd"
    assert os.readlink(tmp_path / "dev/stderr") == "/proc/self/fd/2"


def test_already_mounted_targets_are_left_alone(tmp_path: Path) -> None:
    fake_mountinfo(tmp_path, ["/", "/proc", "/dev", "/sys", "/run", "/tmp", "/dev/pts", "/dev/shm"])
    (tmp_path / "dev").mkdir()
    ctx, recorder = context()
    setup_early(ctx, str(tmp_path))
    setup_early(ctx, str(tmp_path))
    assert [c for c in recorder.calls if c[0] == "mount"] == []


def test_a_scratch_tmpfs_never_hides_files_already_there(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp/checkout").write_text("the agent's own source, in a test run from /tmp")
    ctx, recorder = context()
    setup_early(ctx, str(tmp_path))
    targets = [call[2] for call in recorder.calls if call[0] == "mount"]
    assert str(tmp_path) + "/tmp" not in targets
    assert str(tmp_path) + "/run" in targets


def test_without_devtmpfs_the_essential_nodes_are_made(tmp_path: Path) -> None:
    fake_mountinfo(tmp_path, ["/", "/proc"])
    ctx, recorder = context()
    recorder.fail["mount:devtmpfs"] = errno.ENODEV
    setup_early(ctx, str(tmp_path))
    nodes = {call[1]: call for call in recorder.calls if call[0] == "mknod"}
    assert set(nodes) == {str(tmp_path) + node.path for node in ESSENTIAL_NODES}
    console = nodes[str(tmp_path) + "/dev/console"]
    assert stat.S_ISCHR(console[2]) and console[3] == os.makedev(5, 1)


def test_mountinfo_parsing_decodes_escapes() -> None:
    text = "22 1 0:21 / /run rw - tmpfs tmpfs rw\n23 1 0:22 / /a\\040b rw - tmpfs t rw\n"
    assert mounted_targets(text) == {"/run", "/a b"}
