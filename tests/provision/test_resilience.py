"""The worker's resilience, with real `metalinit serve` and `metalinit worker` processes:
the server killed (-9) and started again mid-workflow, an unknown machine adopted while it
waits, an exception inside the worker, the machine "rebooting" mid-action (the worker and
its action killed, the worker started again), token cases, and the heartbeat."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from agent.actions import ActionOutcome
from agent.log import Log
from agent.provision import attempt as attempt_module
from agent.provision.worker import Ending, Worker, WorkerConfig
from tests.provision.workers import (
    lines_of,
    restart_server,
    script,
    start_worker,
    wait_until,
    workflow,
)
from tests.server.fleet import Fleet, task
from tests.server.serving import Served

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="container actions need root")

SLOW_LINES = "for i in $(seq 1 40); do echo tick $i; sleep 0.1; done"


def test_the_server_killed_and_started_again_mid_action(
    served: Served, probe: dict[str, str], tmp_path: Path
) -> None:
    fleet = Fleet(served)
    wf, mac = workflow(
        fleet, script("ticks", probe, SLOW_LINES), script("after", probe, "echo after")
    )
    worker = start_worker(served.url, [mac], tmp_path / "worker.log", "--once")
    worker.wait_for(r"ticks: tick 5\b")
    served.kill()  # kill -9, with the action printing on
    worker.wait_for(r"keeping \d+ reports and log batches")  # it noticed, and keeps them
    worker.wait_for(r"ticks: tick 25\b")
    again = restart_server(served, tmp_path / "again")
    try:
        assert worker.exit_code() == 0, worker.text()
        fleet = Fleet(again)
        view = fleet.admin.workflow(wf)
        assert view["state"] == "SUCCESS"
        assert [a["state"] for a in view["actions"]] == ["SUCCESS", "SUCCESS"]
        assert [t for _, _, t in lines_of(fleet, wf, "ticks")] == [
            f"tick {i}" for i in range(1, 41)
        ]
        assert "server reachable again" in worker.text()
    finally:
        again.stop()


def test_the_server_down_before_the_lookup(
    served: Served, probe: dict[str, str], tmp_path: Path
) -> None:
    fleet = Fleet(served)
    wf, mac = workflow(fleet, script("one", probe, "echo one"))
    served.kill()
    worker = start_worker(served.url, [mac], tmp_path / "worker.log", "--once")
    worker.wait_for(r"lookup: .*Connection refused; trying again in")
    worker.wait_for(
        r"lookup: .*Connection refused; trying again in",
        after=worker.text().index("trying again") + 1,
    )
    again = restart_server(served, tmp_path / "again")
    try:
        assert worker.exit_code() == 0, worker.text()
        assert Fleet(again).admin.workflow(wf)["state"] == "SUCCESS"
    finally:
        again.stop()


def test_an_unknown_machine_adopted_while_it_waits(
    fleet: Fleet, probe: dict[str, str], tmp_path: Path
) -> None:
    mac = fleet.mac()
    worker = start_worker(fleet.served.url, [mac], tmp_path / "worker.log", "--once")
    worker.wait_for(r"the server knows no machine with MAC " + mac)
    unknown = wait_until(
        "the unknown MAC on the server",
        lambda: [u for u in fleet.admin.unknown() if u["mac"] == mac],
    )
    assert unknown[0]["inventory"]["interfaces"]  # it sent its inventory even unknown
    fleet.admin.put_hardware("adopted", macs=[mac], disks=["/dev/vda"])
    name = fleet.template([task("os", mac, [script("hello", probe, "echo adopted")])])
    wf = fleet.admin.create_workflow(name, {"device_1": mac})["id"]
    assert worker.exit_code() == 0, worker.text()
    assert fleet.admin.workflow(wf)["state"] == "SUCCESS"
    assert "lookup: this is adopted" in worker.text()


def test_the_machine_reboots_mid_action(
    fleet: Fleet, probe: dict[str, str], tmp_path: Path
) -> None:
    """The worker and its action die (a power cut); the worker starts again, looks up, the
    server fails the interrupted attempt and serves the action again (it has a retry)."""
    marks = tmp_path / "marks"
    marks.mkdir()
    text = "if [ -e /mnt/marks/started ]; then echo resumed; else touch /mnt/marks/started; echo long; sleep 120; fi"
    wf, mac = workflow(
        fleet, script("install", probe, text, retries=1, volumes=[f"{marks}:/mnt/marks"])
    )
    first = start_worker(fleet.served.url, [mac], tmp_path / "first.log")
    wait_until("the first attempt's line on the server", lambda: lines_of(fleet, wf, "install"))
    first.kill("install")
    second = start_worker(fleet.served.url, [mac], tmp_path / "second.log", "--once")
    assert second.exit_code() == 0, second.text()
    install = fleet.admin.workflow(wf)["actions"][0]
    assert (install["state"], install["attempt"]) == ("SUCCESS", 2)
    reports = [(r["attempt"], r["state"], r["message"]) for r in install["reports"]]
    assert reports[:2] == [(1, "RUNNING", ""), (1, "FAILED", "machine restarted during the action")]
    assert reports[2:] == [(2, "RUNNING", ""), (2, "SUCCESS", "")]
    assert [(a, t) for a, _, t in lines_of(fleet, wf, "install")] == [(1, "long"), (2, "resumed")]


def test_a_reboot_without_retries_left_ends_the_workflow(
    fleet: Fleet, probe: dict[str, str], tmp_path: Path
) -> None:
    wf, mac = workflow(fleet, script("install", probe, "echo long; sleep 120"))
    first = start_worker(fleet.served.url, [mac], tmp_path / "first.log")
    first.wait_for(r"install: long")
    first.kill("install")
    second = start_worker(fleet.served.url, [mac], tmp_path / "second.log", "--once")
    assert second.exit_code() == 1, second.text()
    assert fleet.admin.workflow(wf)["state"] == "FAILED"
    assert "machine restarted during the action" in second.text()


def test_a_new_token_elsewhere_makes_the_worker_look_up_again(
    fleet: Fleet, probe: dict[str, str], tmp_path: Path
) -> None:
    hardware, mac = fleet.machine()
    worker = start_worker(fleet.served.url, [mac], tmp_path / "worker.log")
    worker.wait_for(r"next: nothing to run yet")
    fleet.served.machine().lookup([mac])  # another boot's lookup: the worker's token is void
    worker.wait_for(r"next: .*401.*looking up again")
    worker.wait_for(r"lookup: this is " + hardware, after=worker.text().index("401"))
    name = fleet.template([task("os", mac, [script("go", probe, "echo with the new token")])])
    wf = fleet.admin.create_workflow(name, {"device_1": mac})["id"]
    assert worker.exit_code() == 0, worker.text()
    assert fleet.admin.workflow(wf)["state"] == "SUCCESS"


def test_the_heartbeat_reaches_the_server_and_can_cancel(
    fleet: Fleet, probe: dict[str, str], tmp_path: Path
) -> None:
    """A global_timeout that passes mid-action: the next heartbeat's answer cancels it."""
    _, mac = fleet.machine()
    name = fleet.template(
        [task("os", mac, [script("forever", probe, "echo started; sleep 300", timeout=600)])],
        global_timeout=4,
    )
    wf = fleet.admin.create_workflow(name, {"device_1": mac})["id"]
    worker = start_worker(fleet.served.url, [mac], tmp_path / "worker.log", "--once")
    worker.wait_for(r"forever: started")
    beat = wait_until(
        "a heartbeat on the server", lambda: fleet.admin.workflow(wf)["actions"][0]["heartbeat_at"]
    )
    assert beat > 0
    assert worker.exit_code(60) == 1, worker.text()
    assert "the server cancels action forever" in worker.text()
    view = fleet.admin.workflow(wf)
    assert view["state"] == "TIMEOUT" and view["actions"][0]["state"] == "TIMEOUT"


class Capture(Log):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def _emit(self, level: str, message: str) -> None:
        self.lines.append(message)


def test_an_exception_inside_the_worker_is_reported_and_retried(
    fleet: Fleet, probe: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault injected where the worker calls the runner (the worker's own code, not the
    action): the attempt is reported FAILED with the exception, and the server's retry
    runs the real action."""
    wf, mac = workflow(fleet, script("fragile", probe, "echo real run", retries=1))
    real = attempt_module._run_action
    calls: list[int] = []

    def first_time_broken(ctx: Any, timeout: float) -> ActionOutcome:
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("injected fault")
        return real(ctx, timeout)

    monkeypatch.setattr(attempt_module, "_run_action", first_time_broken)
    log = Capture()
    config = WorkerConfig(server=fleet.served.url, macs=(mac,), inventory=lambda: {}, once=True)
    worker = Worker(config, log)
    ends = []
    thread = threading.Thread(target=lambda: ends.append(worker.run()))
    thread.start()
    thread.join(120)
    assert ends and ends[0].ending is Ending.DONE, log.lines
    fragile = fleet.admin.workflow(wf)["actions"][0]
    failed = [r for r in fragile["reports"] if r["state"] == "FAILED"]
    assert failed[0]["attempt"] == 1
    assert (
        failed[0]["message"]
        == "the worker failed while running the action: KeyError: 'injected fault'"
    )
    assert (fragile["state"], fragile["attempt"]) == ("SUCCESS", 2)


def test_on_failure_retry_starts_over_until_an_operator_retries(
    fleet: Fleet, probe: dict[str, str], tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    text = "if [ -e /mnt/marks/fixed ]; then echo fixed; else echo broken; exit 1; fi"
    wf, mac = workflow(fleet, script("step", probe, text, volumes=[f"{marks}:/mnt/marks"]))
    worker = start_worker(fleet.served.url, [mac], tmp_path / "worker.log", "--on-failure", "retry")
    worker.wait_for(r"metalinit.on_failure=retry: starting over with a lookup in")
    assert fleet.admin.workflow(wf)["state"] == "FAILED"
    (marks / "fixed").touch()  # the operator fixes what was wrong, then retries the workflow
    fleet.admin.retry(wf)
    wait_until(
        "the retried workflow to succeed", lambda: fleet.admin.workflow(wf)["state"] == "SUCCESS"
    )
    assert worker.exit_code() == 0, worker.text()
    assert [t for _, _, t in lines_of(fleet, wf, "step")][-1] == "fixed"
