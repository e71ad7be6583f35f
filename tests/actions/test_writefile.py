"""writefile into an ext4 partition of a real GPT loop disk."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from agent.actions import writefile
from tests.actions.conftest import debugfs
from tests.actions.harness import context, run_in_child

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mounts need root")


def inode(partition: str, path: str) -> tuple[int, int, int]:
    """(mode, uid, gid) of `path` on the filesystem, as debugfs reads them."""
    text = debugfs(partition, f"stat {path}")
    mode = int(re.search(r"Mode:\s+(\d+)", text).group(1), 8)  # type: ignore[union-attr]
    uid = int(re.search(r"User:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    gid = int(re.search(r"Group:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    return mode, uid, gid


def test_file_directories_owner_and_modes(gpt_disk: str, tmp_path: Path) -> None:
    part = f"{gpt_disk}p1"
    env = {"DEST_DISK": part, "FS_TYPE": "ext4", "DEST_PATH": "/etc/myconfig/sub/foo",
           "CONTENTS": "hello-world\nsecond line\n", "UID": "1000", "GID": "44",
           "MODE": "0600", "DIRMODE": "0750"}  # fmt: skip
    outcome = run_in_child(writefile.run, context(env, tmp_path))
    assert outcome.ok, outcome.error or outcome.crash
    assert debugfs(part, "cat /etc/myconfig/sub/foo") == "hello-world\nsecond line\n"
    assert inode(part, "/etc/myconfig/sub/foo") == (0o600, 1000, 44)
    assert inode(part, "/etc/myconfig") == (0o750, 1000, 44)
    assert inode(part, "/etc/myconfig/sub") == (0o750, 1000, 44)
    assert inode(part, "/etc") == (0o755, 0, 0)  # existing: left alone
    assert "made directory /etc/myconfig (mode 0750, owner 1000:44)" in outcome.lines
    assert "writefile-" not in debugfs(part, "ls /etc/myconfig/sub")  # no temporary left


def test_existing_file_is_replaced_with_exactly_the_mode_asked(
    gpt_disk: str, tmp_path: Path
) -> None:
    part = f"{gpt_disk}p1"
    env = {"DEST_DISK": part, "FS_TYPE": "", "DEST_PATH": "/etc/passwd", "CONTENTS": "root:x:0:0::/:/bin/sh\n",
           "UID": "0", "GID": "0", "MODE": "0640", "DIRMODE": "0755"}  # fmt: skip
    outcome = run_in_child(writefile.run, context(env, tmp_path))
    assert outcome.ok, outcome.error
    assert debugfs(part, "cat /etc/passwd") == "root:x:0:0::/:/bin/sh\n"
    assert inode(part, "/etc/passwd") == (0o640, 0, 0)


def test_symlinks_on_the_target_stay_inside_it(gpt_disk: str, tmp_path: Path) -> None:
    part = f"{gpt_disk}p1"
    outside = tmp_path / "outside"
    # an absolute symlink on the target that, followed on the host, would lead out of it
    debugfs_w = ["debugfs", "-w", "-R", f"symlink /data {outside}", part]
    assert os.spawnvp(os.P_WAIT, "debugfs", debugfs_w) == 0
    env = {"DEST_DISK": part, "DEST_PATH": "/data/x.conf", "CONTENTS": "inside", "MODE": "0644"}
    outcome = run_in_child(writefile.run, context(env, tmp_path))
    assert outcome.ok, outcome.error
    assert not outside.exists()
    assert debugfs(part, f"cat {outside}/x.conf") == "inside"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEST_PATH": "relative/x", "MODE": "0644"}, "expected an absolute path"),
        ({"DEST_PATH": "/etc/", "MODE": "0644"}, "expected an absolute path"),
        ({"DEST_PATH": "/etc/../x"}, "'..' is not allowed"),
        ({"DEST_PATH": "/x", "MODE": "rw"}, "MODE='rw'"),
        ({"DEST_PATH": "/x", "UID": "root"}, "UID='root'"),
        ({"DEST_PATH": "/bin/sh/x"}, "is not a directory"),
        ({"DEST_PATH": "/etc"}, "is a directory"),
        ({"DEST_PATH": "/x", "FS_TYPE": "xfs"}, "cannot mount"),
    ],
)
def test_bad_settings(gpt_disk: str, tmp_path: Path, env: dict[str, str], message: str) -> None:
    outcome = run_in_child(writefile.run, context({"DEST_DISK": f"{gpt_disk}p1", **env}, tmp_path))
    assert outcome.error is not None and message in outcome.error, outcome.error or outcome.crash


def test_missing_partition_is_named(tmp_path: Path) -> None:
    env = {"DEST_DISK": "/dev/loop99p7", "DEST_PATH": "/x"}
    outcome = run_in_child(writefile.run, context(env, tmp_path))
    assert outcome.error is not None and "DEST_DISK=/dev/loop99p7" in outcome.error
