"""A `provision=` boot: the agent as PID 1 of a private PID and mount namespace (its own
tmpfs /dev, so disk links stay inside), running the worker against a real `metalinit
serve` on loopback instead of the root stages, and following the workflow's end.

In a PID namespace, reboot(2) from its init ends the namespace: a reboot shows as SIGHUP.
The rescue shell gets /dev/null for input, so it ends at once and, with nobody pressing
Enter within 30 s, the agent reboots.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from agent.provision.inventory import collect, lookup_macs
from tests.provision.workers import REPO, script
from tests.server.fleet import Fleet, task

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="PID namespaces and container actions need root"
)
REBOOT = -signal.SIGHUP
PRIVATE_DEV = "mount -t tmpfs -o mode=0755 tmpfs /dev && mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/urandom c 1 9"


def boot(cmdline: str, timeout: float = 150) -> tuple[int, str]:
    agent = f"exec {sys.executable} -m agent '--cmdline={cmdline}'"
    proc = subprocess.Popen(
        ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private",
         "sh", "-c", f"{PRIVATE_DEV} && {agent}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        raise AssertionError(f"the boot did not end in {timeout} s:\n{output}") from None
    return proc.returncode, output


def this_machines_workflow(fleet: Fleet, *actions: dict[str, object]) -> str:
    """A workflow for this host itself: the booted agent looks up by the host's own MACs."""
    macs = list(lookup_macs(collect()))
    fleet.admin.put_hardware("this-host", macs=macs, disks=["/dev/vda"])
    name = fleet.template([task("os", macs[0], list(actions))])
    return str(fleet.admin.create_workflow(name, {"device_1": macs[0]})["id"])


def test_the_worker_runs_in_place_of_the_root_stages(fleet: Fleet, probe: dict[str, str]) -> None:
    wf = this_machines_workflow(fleet, script("hello", probe, "echo hello from the boot"))
    code, output = boot(f"provision={fleet.served.url} ip=off")
    assert "stage provision" in output and "stage find_root" not in output, output
    assert "hello: hello from the boot" in output
    assert f"workflow {wf}: SUCCESS; no action rebooted or powered off the machine" in output
    assert fleet.admin.workflow(wf)["state"] == "SUCCESS"
    assert code == REBOOT


def test_a_failed_workflow_ends_at_a_banner_naming_workflow_action_and_reason(
    fleet: Fleet, probe: dict[str, str]
) -> None:
    wf = this_machines_workflow(
        fleet, script("write-image", probe, "echo checksum mismatch >&2; exit 4")
    )
    code, output = boot(f"provision={fleet.served.url} ip=off")
    assert "stage 'provision' failed" in output, output
    why = next(line for line in output.splitlines() if line.strip().startswith("why:"))
    assert f"workflow {wf}" in why and "write-image" in why
    assert "metalinit workflow retry" in output  # the hint
    assert "rescue shell exited" in output
    assert fleet.admin.workflow(wf)["state"] == "FAILED"
    assert code == REBOOT


def test_on_failure_reboot(fleet: Fleet, probe: dict[str, str]) -> None:
    this_machines_workflow(fleet, script("break", probe, "exit 1"))
    code, output = boot(
        f"provision={fleet.served.url} ip=off metalinit.on_failure=reboot", timeout=60
    )
    assert "metalinit.on_failure=reboot" in output, output
    assert "reboot: stopping processes" in output
    assert "rescue shell" not in output
    assert code == REBOOT
