"""The worker end to end: real `metalinit serve`, real `metalinit worker` processes, and
container actions (the busybox probe image from a registry on 127.0.0.1) through the real
runner: a workflow to SUCCESS with its output on the server in order, a failing action,
the server's retries, waitdaemon, and what the command does at the end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.provision.workers import lines_of, script, start_worker, wait_until, workflow
from tests.server.fleet import Fleet, action, task

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="container actions need root")


def test_a_workflow_runs_to_success(fleet: Fleet, probe: dict[str, str], tmp_path: Path) -> None:
    wf, mac = workflow(
        fleet,
        script(
            "greet",
            probe,
            "echo hello from $HOSTNAME; echo FROM_ENV=$FROM_ENV",
            environment={"FROM_ENV": "the template"},
        ),
        script("count", probe, "for i in $(seq 1 500); do echo line $i; done"),
    )
    worker = start_worker(fleet.served.url, [mac], tmp_path / "worker.log", "--once")
    assert worker.exit_code() == 0, worker.text()
    view = fleet.admin.workflow(wf)
    assert view["state"] == "SUCCESS"
    assert [(a["name"], a["state"], a["attempt"]) for a in view["actions"]] == [
        ("greet", "SUCCESS", 1),
        ("count", "SUCCESS", 1),
    ]
    assert all(a["seconds"] is not None and a["seconds"] > 0 for a in view["actions"])
    greet = [text for _, _, text in lines_of(fleet, wf, "greet")]
    assert "hello from greet" in greet and "FROM_ENV=the template" in greet
    count = lines_of(fleet, wf, "count")
    assert [text for _, _, text in count] == [
        f"line {i}" for i in range(1, 501)
    ]  # in order, once each
    numbers = [n for _, n, _ in count]
    assert numbers == sorted(numbers) and len(set(numbers)) == 500
    text = worker.text()
    assert "greet: hello from greet" in text  # the console has the output too
    assert "action count: SUCCESS after" in text
    assert "worker: done" in text


def test_a_failing_action_fails_the_workflow(
    fleet: Fleet, probe: dict[str, str], tmp_path: Path
) -> None:
    wf, mac = workflow(
        fleet,
        script("break", probe, "echo about to fail; exit 3"),
        script("never", probe, "echo must not run"),
    )
    worker = start_worker(fleet.served.url, [mac], tmp_path / "worker.log", "--once")
    assert worker.exit_code() == 1, worker.text()
    view = fleet.admin.workflow(wf)
    assert view["state"] == "FAILED"
    states = {a["name"]: a["state"] for a in view["actions"]}
    assert states == {"break": "FAILED", "never": "PENDING"}
    assert [t for _, _, t in lines_of(fleet, wf, "break")] == ["about to fail"]
    assert "action break: FAILED" in worker.text()
    assert "worker: failed: workflow" in worker.text() and "break" in worker.text()


def test_the_server_serves_a_failed_action_again(
    fleet: Fleet, probe: dict[str, str], tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    flaky = "echo attempt; if [ -e /mnt/marks/seen ]; then echo second time lucky; else touch /mnt/marks/seen; exit 1; fi"
    wf, mac = workflow(
        fleet, script("flaky", probe, flaky, retries=1, volumes=[f"{marks}:/mnt/marks"])
    )
    worker = start_worker(fleet.served.url, [mac], tmp_path / "worker.log", "--once")
    assert worker.exit_code() == 0, worker.text()
    view = fleet.admin.workflow(wf)
    flaky_view = view["actions"][0]
    assert (view["state"], flaky_view["state"], flaky_view["attempt"]) == ("SUCCESS", "SUCCESS", 2)
    assert [(r["attempt"], r["state"]) for r in flaky_view["reports"]] == [
        (1, "RUNNING"),
        (1, "FAILED"),
        (2, "RUNNING"),
        (2, "SUCCESS"),
    ]
    assert [(a, t) for a, _, t in lines_of(fleet, wf, "flaky")] == [
        (1, "attempt"),
        (2, "attempt"),
        (2, "second time lucky"),
    ]
    assert "the server serves it again (attempt 2 of 2)" in worker.text()


def test_a_timeout_is_reported_as_timeout(
    fleet: Fleet, probe: dict[str, str], tmp_path: Path
) -> None:
    wf, mac = workflow(fleet, script("slow", probe, "echo going to sleep; sleep 60", timeout=2))
    worker = start_worker(fleet.served.url, [mac], tmp_path / "worker.log", "--once")
    assert worker.exit_code() == 1, worker.text()
    slow = fleet.admin.workflow(wf)["actions"][0]
    assert slow["state"] == "TIMEOUT"
    assert 2 <= slow["seconds"] < 30


def test_nothing_to_do_with_once(fleet: Fleet, tmp_path: Path) -> None:
    _, mac = fleet.machine()
    worker = start_worker(fleet.served.url, [mac], tmp_path / "worker.log", "--once")
    assert worker.exit_code() == 3, worker.text()
    assert "lookup: this is m-" in worker.text()


def test_waiting_for_a_workflow_then_running_it(
    fleet: Fleet, probe: dict[str, str], tmp_path: Path
) -> None:
    hardware, mac = fleet.machine()
    worker = start_worker(fleet.served.url, [mac], tmp_path / "worker.log")
    worker.wait_for(r"next: nothing to run yet")
    name = fleet.template([task("os", mac, [script("late", probe, "echo finally")])])
    wf = fleet.admin.create_workflow(name, {"device_1": mac})["id"]
    assert worker.exit_code() == 0, worker.text()
    assert fleet.admin.workflow(wf)["state"] == "SUCCESS"
    assert (
        wait_until(
            "the inventory on the server", lambda: fleet.admin.hardware(hardware).get("inventory")
        )["cpu"]["count"]
        >= 1
    )


def test_waitdaemon_reports_success_then_runs_its_image(
    fleet: Fleet, probe: dict[str, str], tmp_path: Path
) -> None:
    """Tinkerbell's wrapper for kexec and reboot: its SUCCESS is on the server before the
    action named by IMAGE runs, with the same environment and command."""
    wrapped = action(
        "kexec-wrapped",
        image="ghcr.io/jacobweinstock/waitdaemon:0.2.2",
        timeout=60,
        command=["script", "sleep 1; echo inner ran with $WRAPPED"],
        environment={"IMAGE": probe["root"], "WRAPPED": "the same environment"},
    )
    wf, mac = workflow(fleet, wrapped)
    worker = start_worker(fleet.served.url, [mac], tmp_path / "worker.log", "--once")
    assert worker.exit_code() == 0, worker.text()
    text = worker.text()
    assert text.index("waitdaemon, reporting SUCCESS") < text.index(
        "kexec-wrapped: inner ran with the same environment"
    )
    view = fleet.admin.workflow(wf)
    assert view["state"] == "SUCCESS"
    reports = [(r["state"], r["message"]) for r in view["actions"][0]["reports"]]
    assert reports == [("RUNNING", ""), ("SUCCESS", f"waitdaemon: runs {probe['root']} next")]
    assert "cancels" not in text  # no heartbeat for an action the server holds as done


def test_waitdaemon_without_image_fails(fleet: Fleet, tmp_path: Path) -> None:
    wf, mac = workflow(fleet, action("wd", image="quay.io/x/waitdaemon:latest", timeout=60))
    worker = start_worker(fleet.served.url, [mac], tmp_path / "worker.log", "--once")
    assert worker.exit_code() == 1, worker.text()
    assert "waitdaemon needs IMAGE=" in fleet.admin.workflow(wf)["actions"][0]["message"]
