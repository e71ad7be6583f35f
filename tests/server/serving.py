"""A real `metalinit serve` for tests: a subprocess on 127.0.0.1 with a free port and its
own data directory, its admin token, an admin client and a small machine client.

    from tests.server.serving import serving

    with serving(tmp_path) as srv:             # SQLite in tmp_path/data
        admin = srv.admin()                    # server.cli.client.AdminClient
        admin.put_hardware("m1", macs=["52:54:00:00:00:01"], disks=["/dev/vda"])
        admin.add_template(TEMPLATE_YAML)
        wf = admin.create_workflow("name", {"device_1": "52:54:00:00:00:01"})
        srv.url, srv.token                     # for the worker under test
        m = srv.machine()                      # tests.server.serving.MachineClient
        m.lookup(["52:54:00:00:00:01"]); m.next()

`serving(tmp, db="postgresql://…")` shares a PostgreSQL; `srv.kill()` is kill -9,
`srv.stop()` is Ctrl-C, and `srv.log_text()` is everything the server printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from agent.provision import wire
from server.cli.client import AdminClient

START_TIMEOUT = 30.0
_LISTENING = re.compile(r"metalinit serve: listening on (http://\S+)")


@dataclass
class Served:
    url: str
    token: str
    data: Path
    artifacts: Path
    process: subprocess.Popen[bytes]
    log: Path

    def admin(self) -> AdminClient:
        return AdminClient(self.url, self.token)

    def machine(self) -> MachineClient:
        return MachineClient(self.url)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 20.0) -> int:
        """Ctrl-C, and the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "agent.cli", "serve", *args]


def start(
    tmp: Path,
    *,
    db: str | None = None,
    data: Path | None = None,
    listen: str = "127.0.0.1:0",
    extra: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Served:
    data = data or tmp / "data"
    artifacts = tmp / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    log = tmp / f"serve-{time.monotonic_ns()}.log"
    args = ["--listen", listen, "--data", str(data), "--artifacts", str(artifacts), *extra]
    if db:
        args += ["--db", db]
    with log.open("wb") as out:
        process = subprocess.Popen(
            serve_command(*args),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    url = _wait_listening(process, log)
    served = Served(url, (data / "admin-token").read_text().strip(), data, artifacts, process, log)
    _wait_healthy(served)
    return served


def _wait_listening(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        found = _LISTENING.search(log.read_text(errors="replace"))
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"metalinit serve exited {process.returncode}:\n{log.read_text()}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"metalinit serve did not start:\n{log.read_text()}")


def _wait_healthy(served: Served) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(served.url + "/healthz", timeout=5).status_code == 200:
                return
        time.sleep(0.05)
    served.kill()
    raise RuntimeError(f"metalinit serve never answered /healthz:\n{served.log_text()}")


@contextlib.contextmanager
def serving(tmp: Path, **kwargs: Any) -> Iterator[Served]:
    served = start(tmp, **kwargs)
    try:
        yield served
    finally:
        served.stop() if served.process.poll() is None else None


@dataclass
class MachineClient:
    """The worker's side of the machine API, plainly: each call returns the wire shape,
    or raises `Refused` with the status and Problem. A test's stand-in for the worker
    helper's client, not a product part."""

    url: str
    token: str | None = None
    session: requests.Session = field(default_factory=requests.Session)

    def post(self, path: str, body: Any, token: str | None = None) -> requests.Response:
        headers = {}
        use = token if token is not None else self.token
        if use:
            headers["Authorization"] = f"Bearer {use}"
        return self.session.post(self.url + path, json=body, headers=headers, timeout=30)

    def _call(self, path: str, body: Any) -> Any:
        reply = self.post(path, body)
        if reply.status_code != 200:
            raise Refused(reply.status_code, wire.Problem.from_json(reply.json()))
        return reply.json()

    def lookup(
        self, macs: Sequence[str], inventory: dict[str, Any] | None = None
    ) -> wire.LookupReply:
        body = wire.LookupRequest(tuple(macs), inventory or {}, "test").to_json()
        reply = wire.LookupReply.from_json(self._call(wire.LOOKUP, body))
        self.token = reply.token
        return reply

    def next(self) -> wire.NextReply:
        return wire.NextReply.from_json(self._call(wire.NEXT, {}))

    def report(
        self,
        action: wire.ActionSpec,
        state: wire.ActionState,
        message: str = "",
        seconds: float | None = None,
        attempt: int | None = None,
    ) -> wire.ReportReply:
        body = wire.Report(action.id, attempt or action.attempt, state, message, seconds)
        return wire.ReportReply.from_json(self._call(wire.REPORT, body.to_json()))

    def heartbeat(
        self,
        action: wire.ActionSpec | None = None,
        done: int | None = None,
        total: int | None = None,
    ) -> wire.HeartbeatReply:
        progress = wire.Progress(done, total) if done is not None else None
        body = wire.Heartbeat(
            action.id if action else None, action.attempt if action else None, progress
        )
        return wire.HeartbeatReply.from_json(self._call(wire.HEARTBEAT, body.to_json()))

    def log(self, action: wire.ActionSpec, first: int, lines: Sequence[str]) -> wire.LogReply:
        body = wire.LogLines(action.id, action.attempt, first, tuple(lines))
        return wire.LogReply.from_json(self._call(wire.LOG, body.to_json()))


class Refused(Exception):
    def __init__(self, status: int, problem: wire.Problem) -> None:
        super().__init__(f"{status} {problem.code}: {problem.detail}")
        self.status = status
        self.problem = problem
