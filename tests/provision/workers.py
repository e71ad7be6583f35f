"""Real `metalinit worker` processes and real `metalinit serve` processes for the worker's
tests, and the few waits those tests need (each bounded, each saying what it waited for)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.actions.helpers import groups_named
from tests.server.fleet import Fleet, action, task
from tests.server.serving import Served, start

REPO = Path(__file__).resolve().parents[2]
SERVE_TIMINGS = ["--poll", "0.2", "--heartbeat", "0.3"]
WAIT = 90.0


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = WAIT, after: int = 0) -> re.Match[str]:
        """The first match of `pattern` in the worker's log past character `after`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.compile(pattern).search(self.text(), after)
            if found:
                return found
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"worker never logged {pattern!r} (exit {self.process.poll()}):\n{self.text()}"
        )

    def exit_code(self, timeout: float = WAIT) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"worker still running after {timeout} s:\n{self.text()}"
            ) from None

    def kill(self, *actions: str) -> None:
        """kill -9 of the worker and everything it started: what a power cut does."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        for name in actions:
            for group in groups_named(name):
                (group / "cgroup.kill").write_text("1")


def start_worker(url: str, macs: list[str], log: Path, *extra: str) -> WorkerProcess:
    argv = [sys.executable, "-m", "agent.cli", "worker", "--server", url]
    for mac in macs:
        argv += ["--mac", mac]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*argv, *extra], stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
        )
    return WorkerProcess(process, log)


def restart_server(old: Served, tmp: Path) -> Served:
    """`metalinit serve` again on the same address and data directory (and so database)."""
    old.kill()
    address = old.url.removeprefix("http://")
    deadline = time.monotonic() + 20
    while True:
        try:
            return start(tmp, data=old.data, listen=address, extra=SERVE_TIMINGS)
        except RuntimeError:  # the port is not free again yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_until(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def script(name: str, probe: dict[str, str], text: str, **extra: Any) -> dict[str, Any]:
    return action(name, image=probe["root"], command=["script", text], **extra)


def workflow(fleet: Fleet, *actions: dict[str, Any]) -> tuple[str, str]:
    """A workflow of `actions` for a new machine that has not looked up yet: (id, mac)."""
    _, mac = fleet.machine()
    name = fleet.template([task("os", mac, list(actions))])
    return fleet.admin.create_workflow(name, {"device_1": mac})["id"], mac


def lines_of(fleet: Fleet, wf: str, name: str) -> list[tuple[int, int, str]]:
    """What the action's script printed, as the server stored it: (attempt, n, text); the
    runner's own lines and the probe's `entrypoint:` line left out."""
    return [
        (line["attempt"], line["n"], line["text"])
        for line in fleet.admin.all_logs(wf, name)
        if not line["text"].startswith(("metalinit: ", "entrypoint: "))
    ]
