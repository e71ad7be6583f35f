"""on_exit policies, the rescue banner, supervision helpers: pure parts."""

from __future__ import annotations

import os
import signal

import pytest

from agent.cmdline import CmdlineError, OnExit
from agent.on_exit import RESTART_LIMIT, decide
from agent.power import mounts_to_release
from agent.rescue import Failure, banner
from agent.supervise import exit_code


@pytest.mark.parametrize("policy", [OnExit.RESCUE, OnExit.POWEROFF, OnExit.REBOOT])
def test_fixed_policies(policy: OnExit) -> None:
    assert decide(policy, 0).action is policy
    assert decide(policy, 99).action is policy


def test_restart_backs_off_then_gives_up() -> None:
    delays = [decide(OnExit.RESTART, n).delay for n in range(RESTART_LIMIT)]
    assert delays == sorted(delays) and delays[0] >= 1 and delays[-1] <= 30
    assert all(decide(OnExit.RESTART, n).action is OnExit.RESTART for n in range(RESTART_LIMIT))
    final = decide(OnExit.RESTART, RESTART_LIMIT)
    assert final.action is OnExit.RESCUE
    assert "giving up" in final.reason


@pytest.mark.parametrize(
    ("status", "code"),
    [(0, 0), (3 << 8, 3), (signal.SIGKILL, 137), (signal.SIGTERM, 143), (127 << 8, 127)],
)
def test_exit_code(status: int, code: int) -> None:
    assert exit_code(status) == code


def test_banner_names_stage_reason_and_hint() -> None:
    text = banner(Failure("cmdline", CmdlineError("ip", "x", "bad")))
    assert "stage 'cmdline' failed" in text
    assert "kernel argument ip='x': bad" in text
    assert "metalinit cmdline" in text
    assert "rescue shell" in text


def test_mounts_released_deepest_last_mounted_first() -> None:
    info = "\n".join(
        [
            "1 0 0:1 / / rw - rootfs rootfs rw",
            "2 1 0:2 / /proc rw - proc proc rw",
            "3 1 8:0 / /mnt rw - ext4 /dev/vda rw",
            "4 3 0:5 / /mnt/dev rw - devtmpfs devtmpfs rw",
            "5 3 0:6 / /mnt/my\\040dir rw - tmpfs tmpfs rw",
        ]
    )
    assert mounts_to_release(info) == ["/mnt/my dir", "/mnt/dev", "/mnt", "/proc"]


def test_reboot_is_refused_outside_pid_1() -> None:
    from agent.syscalls import LINUX_REBOOT_CMD_POWER_OFF, Syscalls

    assert os.getpid() != 1
    with pytest.raises(OSError, match="not PID 1"):
        Syscalls().reboot(LINUX_REBOOT_CMD_POWER_OFF)
