"""cexec on a real ext4 partition holding a busybox root, with and without CHROOT."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.actions import cexec
from tests.actions.conftest import debugfs
from tests.actions.harness import context, run_in_child

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mounts need root")


@pytest.mark.parametrize(
    ("cmd_line", "interpreter", "argvs"),
    [
        (
            "grub-install --root-directory=/boot /dev/sda",
            "",
            [["grub-install", "--root-directory=/boot", "/dev/sda"]],
        ),
        (
            "apt-get -y update; apt-get -y upgrade",
            "",
            [["apt-get", "-y", "update"], ["apt-get", "-y", "upgrade"]],
        ),
        ("a  b;; c ;", "", [["a", "b"], ["c"]]),
        (
            "apt-get -y update; apt-get -y upgrade",
            "/bin/sh -c",
            [["/bin/sh", "-c", "apt-get -y update; apt-get -y upgrade"]],
        ),
        ("echo 'a b'", "/bin/bash  -e -c", [["/bin/bash", "-e", "-c", "echo 'a b'"]]),
    ],
)
def test_command_lines_as_the_hub_splits_them(
    cmd_line: str, interpreter: str, argvs: list[list[str]]
) -> None:
    assert cexec.commands(cmd_line, interpreter) == argvs


def test_chroot_with_dev_proc_sys_and_the_action_environment(gpt_disk: str, tmp_path: Path) -> None:
    part = f"{gpt_disk}p1"
    script = ("echo inside $(cat /etc/passwd | head -n 1); test -c /dev/null && echo dev-ok; "
              "test -r /proc/self/status && echo proc-ok; test -d /sys/class/block && echo sys-ok; "
              "echo $GREETING > /greeting; echo to-stderr >&2")  # fmt: skip
    env = {"BLOCK_DEVICE": part, "FS_TYPE": "ext4", "CHROOT": "y", "DEFAULT_INTERPRETER": "/bin/sh -c",
           "CMD_LINE": script, "GREETING": "hello from the template"}  # fmt: skip
    outcome = run_in_child(cexec.run, context(env, tmp_path))
    assert outcome.ok, outcome.error or outcome.crash
    for line in (
        "inside root:x:0:0:root:/root:/bin/sh",
        "dev-ok",
        "proc-ok",
        "sys-ok",
        "to-stderr",
    ):
        assert line in outcome.lines
    assert debugfs(part, "cat /greeting") == "hello from the template\n"
    assert not os.path.exists("/mountAction")
    with open(part, "rb", opener=lambda p, f: os.open(p, f | os.O_EXCL)):
        pass  # nothing holds the partition: the action's mounts are all gone


def test_commands_split_on_semicolons_run_in_turn_and_stop_at_a_failure(
    gpt_disk: str, tmp_path: Path
) -> None:
    env = {
        "BLOCK_DEVICE": f"{gpt_disk}p1",
        "CHROOT": "y",
        "CMD_LINE": "echo one; grep nosuch /etc/group; echo three",
    }
    outcome = run_in_child(cexec.run, context(env, tmp_path))
    assert outcome.error == "grep nosuch /etc/group exited with status 1"
    assert "one" in outcome.lines and "three" not in outcome.lines


def test_missing_program_inside_the_chroot(gpt_disk: str, tmp_path: Path) -> None:
    env = {
        "BLOCK_DEVICE": f"{gpt_disk}p1",
        "FS_TYPE": "ext4",
        "CHROOT": "y",
        "CMD_LINE": "grub-install /dev/sda",
    }
    outcome = run_in_child(cexec.run, context(env, tmp_path))
    assert outcome.error is not None
    assert "cannot run grub-install inside BLOCK_DEVICE's filesystem" in outcome.error


def test_without_chroot_the_filesystem_is_at_mount_action(gpt_disk: str, tmp_path: Path) -> None:
    assert not os.path.exists("/mountAction")
    env = {
        "BLOCK_DEVICE": f"{gpt_disk}p1",
        "FS_TYPE": "ext4",
        "CMD_LINE": "cat /mountAction/etc/group; ls /mountAction/bin/busybox",
    }
    outcome = run_in_child(cexec.run, context(env, tmp_path))
    assert outcome.ok, outcome.error
    assert "video:x:44:app" in outcome.lines and "/mountAction/bin/busybox" in outcome.lines
    assert not os.path.exists("/mountAction")  # made for the action, removed after


def test_update_resolv_conf_over_a_dangling_symlink(gpt_disk: str, tmp_path: Path) -> None:
    part = f"{gpt_disk}p1"
    link = [
        "debugfs",
        "-w",
        "-R",
        "symlink /etc/resolv.conf /run/systemd/resolve/stub-resolv.conf",
        part,
    ]
    assert os.spawnvp(os.P_WAIT, "debugfs", link) == 0
    env = {
        "BLOCK_DEVICE": part,
        "CHROOT": "y",
        "UPDATE_RESOLV_CONF": "true",
        "CMD_LINE": "cat /etc/resolv.conf",
    }
    outcome = run_in_child(cexec.run, context(env, tmp_path))
    assert outcome.ok, outcome.error
    host = Path("/etc/resolv.conf").read_text().splitlines()
    assert any(host), "the host's /etc/resolv.conf is empty: nothing to tell it apart by"
    assert [line for line in outcome.lines if line in host] == [line for line in host if line]
    assert "stub-resolv.conf" in debugfs(part, "stat /etc/resolv.conf")  # the symlink is back
    assert "cexec-backup" not in debugfs(part, "ls /etc")


def test_a_background_process_does_not_hold_the_action(gpt_disk: str, tmp_path: Path) -> None:
    env = {"BLOCK_DEVICE": f"{gpt_disk}p1", "CHROOT": "y", "DEFAULT_INTERPRETER": "/bin/sh -c",
           "CMD_LINE": "sleep 30 & echo started"}  # fmt: skip
    outcome = run_in_child(cexec.run, context(env, tmp_path))
    assert outcome.ok, outcome.error
    assert "started" in outcome.lines
    assert any("left processes running; stopping them" in line for line in outcome.lines)
    with open(f"{gpt_disk}p1", "rb", opener=lambda p, f: os.open(p, f | os.O_EXCL)):
        pass  # the sleep was stopped: nothing holds the filesystem
