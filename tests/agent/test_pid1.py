"""The agent as PID 1 of a private PID + mount namespace, against a real ext4 image on a real
loop device: mount → chroot → exec → supervise → on_exit, and the rescue path.

In a PID namespace, reboot(2) from its init ends the namespace: power-off shows as SIGINT,
reboot as SIGHUP, and `unshare` passes that signal on to itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.disks import busybox_disk

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces and loop devices"),
]

POWEROFF = -signal.SIGINT
REBOOT = -signal.SIGHUP
ROOT_UUID = "5b0c7a52-6a3e-4f3e-9d55-0c1c0f6a7e01"


@dataclass(frozen=True)
class LoopDisk:
    device: str
    image: Path


@pytest.fixture(scope="module")
def disks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LoopDisk]]:
    """Two real ext4 images on loop devices: a plain busybox root and one with image.json."""
    base = tmp_path_factory.mktemp("pid1")
    made: dict[str, LoopDisk] = {}
    variants: dict[str, dict[str, object] | None] = {
        "plain": None,
        "image": {
            "config": {
                "Entrypoint": ["/bin/sh", "-c"],
                "Cmd": [
                    'echo "cwd=$(pwd) user=$(id -u):$(id -g) groups=$(id -G) greeting=$GREETING"'
                ],
                "Env": ["GREETING=hello from image.json", "PATH=/bin"],
                "WorkingDir": "/srv",
                "User": "app",
            }
        },
    }
    try:
        for name, image_json in variants.items():
            fs_uuid = ROOT_UUID if name == "plain" else str(uuid.uuid4())
            image = busybox_disk(base, f"pid1-{name}", fs_uuid, image_json)
            device = subprocess.run(
                ["losetup", "-f", "--show", str(image)], capture_output=True, text=True, check=True
            ).stdout.strip()
            made[name] = LoopDisk(device, image)
        yield made
    finally:
        for disk in made.values():
            subprocess.run(["losetup", "-d", disk.device], check=False)


@dataclass
class Run:
    code: int
    output: str


def start(cmdline: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private",
         sys.executable, "-m", "agent", f"--cmdline={cmdline}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def boot(cmdline: str, timeout: float = 60) -> Run:
    proc = start(cmdline)
    output, _ = proc.communicate(timeout=timeout)
    return Run(proc.returncode, output)


def test_entrypoint_runs_chrooted_and_poweroff_ends_the_namespace(
    disks: dict[str, LoopDisk],
) -> None:
    run = boot(
        f"root={disks['plain'].device} metalinit.on_exit=poweroff "
        "entrypoint=\"/bin/sh -c 'echo hello from $(cat /etc/passwd | wc -l) users; ls /proc/1 >/dev/null && echo proc-ok'\""
    )
    assert "hello from 2 users" in run.output, run.output
    assert "proc-ok" in run.output
    assert "the entrypoint exited with code 0" in run.output
    assert "poweroff: stopping processes" in run.output
    assert run.code == POWEROFF, run.output


@pytest.mark.parametrize("spec", ["UUID=" + ROOT_UUID, "LABEL=pid1-plain"])
def test_root_by_uuid_and_label(disks: dict[str, LoopDisk], spec: str) -> None:
    run = boot(f"root={spec} metalinit.on_exit=poweroff entrypoint=/bin/echo found-by-{spec}")
    assert f"found-by-{spec}" in run.output, run.output
    assert f"is {disks['plain'].device}" in run.output
    assert run.code == POWEROFF


def test_nonzero_exit_is_logged_and_reboot_policy_followed(disks: dict[str, LoopDisk]) -> None:
    run = boot(
        f"root={disks['plain'].device} metalinit.on_exit=reboot entrypoint=\"/bin/sh -c 'exit 3'\""
    )
    assert "the entrypoint exited with code 3" in run.output, run.output
    assert run.code == REBOOT


def test_missing_entrypoint_ends_at_the_rescue_banner(disks: dict[str, LoopDisk]) -> None:
    run = boot(f"root={disks['plain'].device} entrypoint=/no/such/program")
    assert "stage 'run_entrypoint' failed" in run.output, run.output
    assert "cannot start '/no/such/program'" in run.output
    assert "No such file or directory" in run.output
    assert "rescue shell exited" in run.output  # stdin is /dev/null: the shell ends at once
    assert run.code == REBOOT  # nobody pressed Enter: the agent reboots, never exits


def test_bad_cmdline_ends_at_the_rescue_banner(disks: dict[str, LoopDisk]) -> None:
    run = boot(f"root={disks['plain'].device} rootdelay=abc")
    assert "stage 'read_cmdline' failed" in run.output, run.output
    assert "kernel argument rootdelay='abc'" in run.output
    assert run.code == REBOOT


def test_missing_root_device_names_the_disks_seen(disks: dict[str, LoopDisk]) -> None:
    run = boot("root=UUID=00000000-0000-0000-0000-000000000000 rootwait=2")
    assert "not found after 2 s" in run.output, run.output
    assert f"{disks['plain'].device} (ext4: UUID={ROOT_UUID}" in run.output
    assert run.code == REBOOT


def test_rescue_flag_stops_before_the_root(disks: dict[str, LoopDisk]) -> None:
    run = boot(f"root={disks['plain'].device} metalinit.rescue entrypoint=/bin/true")
    assert "metalinit.rescue is on the kernel command line" in run.output, run.output
    assert "stage find_root" not in run.output
    assert run.code == REBOOT


def test_image_json_gives_argv_env_workdir_and_user(disks: dict[str, LoopDisk]) -> None:
    run = boot(f"root={disks['image'].device} metalinit.on_exit=poweroff")
    assert "cwd=/srv user=1000:1000 groups=1000 44 greeting=hello from image.json" in run.output, (
        run.output
    )
    assert run.code == POWEROFF


def test_sigterm_is_forwarded_and_a_child_that_ignores_it_is_killed(
    disks: dict[str, LoopDisk],
) -> None:
    proc = start(
        f"root={disks['plain'].device} metalinit.on_exit=poweroff entrypoint=/bin/ignore-term"
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.strip() == "ready":
            break
    agent = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
    started = time.monotonic()
    os.kill(agent, signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    output = "".join(lines) + rest
    assert "forwarding Terminated" in output, output
    assert "got TERM" in output
    assert "the entrypoint exited with code 137" in output  # SIGKILL after the grace period
    assert time.monotonic() - started >= 9
    assert proc.returncode == POWEROFF


def test_orphans_are_reaped(disks: dict[str, LoopDisk]) -> None:
    run = boot(
        f"root={disks['plain'].device} metalinit.on_exit=poweroff entrypoint=/bin/make-orphans"
    )
    assert "zombies=0" in run.output, run.output
    assert run.code == POWEROFF


def test_restart_policy_restarts_with_back_off(disks: dict[str, LoopDisk]) -> None:
    proc = start(
        f"root={disks['plain'].device} metalinit.on_exit=restart entrypoint=\"/bin/sh -c 'echo run; exit 1'\""
    )
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        if "restarting the entrypoint in" in line:
            seen += 1
            if seen == 2:
                break
    proc.kill()
    proc.wait()
    assert seen == 2
