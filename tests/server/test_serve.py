"""`metalinit serve` as a process: a port in use, Ctrl-C and SIGTERM, bad options, and
kill -9 in the middle of a workflow losing nothing the server had acknowledged."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from agent.provision import wire
from agent.provision.wire import ActionState as A
from tests.server.fleet import Fleet, action
from tests.server.serving import Served, serve_command, serving, start


def _run_serve(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(serve_command(*args), capture_output=True, text=True, timeout=timeout)


def _one_line_error(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("metalinit serve:")]
    assert len(errors) == 1 and words in errors[0], done.stderr


def test_a_second_serve_on_the_same_port_fails_clearly(
    sqlite_served: Served, tmp_path: Path
) -> None:
    listen = sqlite_served.url.removeprefix("http://")
    done = _run_serve("--listen", listen, "--data", str(tmp_path / "d"))
    _one_line_error(done, "already in use")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--listen", "nowhere"], "expected HOST:PORT"),
        (["--db", "mysql://x/y"], "only sqlite"),
        (["--db", "postgresql://nobody@/none?host=/nonexistent"], "cannot open the database"),
    ],
)
def test_bad_options_are_one_line(tmp_path: Path, args: list[str], words: str) -> None:
    done = _run_serve("--listen", "127.0.0.1:0", "--data", str(tmp_path / "d"), *args)
    _one_line_error(done, words)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_it_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    srv = start(tmp_path)
    srv.process.send_signal(sig)
    assert srv.process.wait(20) == 0
    text = srv.log_text()
    assert "Traceback" not in text and text.rstrip().endswith("metalinit serve: stopped")


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    with serving(tmp_path):
        pass
    db = sqlite3.connect(tmp_path / "data" / "metalinit.db")
    db.execute("UPDATE schema_version SET version = 999")
    db.commit()
    db.close()
    done = _run_serve("--listen", "127.0.0.1:0", "--data", str(tmp_path / "data"))
    _one_line_error(done, "schema version 999")


def test_the_admin_token_is_kept_across_starts(tmp_path: Path) -> None:
    with serving(tmp_path) as first:
        token = first.token
    with serving(tmp_path) as second:
        assert second.token == token
        assert second.admin().hardware_list() == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_loses_nothing_acknowledged(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    db = None
    if backend == "postgresql":
        db = request.getfixturevalue("pg").create_database(f"kill9_{tmp_path.name[-8:]}")
    srv = start(tmp_path, db=db)
    fleet = Fleet(srv)
    run = fleet.run(action("write", retries=1), action("kexec"))
    first = run.next_action()
    run.machine.report(first, A.RUNNING)
    run.machine.log(first, 0, ["writing", "done"])
    run.machine.report(first, A.SUCCESS, seconds=3.0)
    second = run.next_action()
    assert run.machine.report(second, A.RUNNING).stored
    run.machine.heartbeat(second, 5, 10)
    listen = srv.url.removeprefix("http://")
    srv.process.send_signal(signal.SIGKILL)
    srv.process.wait(10)

    again = start(tmp_path, db=db, listen=listen)
    try:
        assert again.token == srv.token
        view = again.admin().workflow(run.id)
        assert view["state"] == "RUNNING"
        one, two = view["actions"]
        assert (one["state"], one["seconds"]) == ("SUCCESS", 3.0)
        assert [(r["attempt"], r["state"]) for r in one["reports"]] == [
            (1, "RUNNING"),
            (1, "SUCCESS"),
        ]
        assert two["state"] == "RUNNING"
        assert [x["text"] for x in again.admin().all_logs(run.id)] == ["writing", "done"]
        # the worker did not notice: same token, same action, the report it retries is a duplicate
        assert not run.machine.report(second, A.RUNNING).stored
        assert run.machine.report(second, A.SUCCESS).workflow_state is wire.WorkflowState.SUCCESS
    finally:
        again.stop()


def test_a_postgresql_restart_is_ridden_out(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The connections the database dropped are replaced, and the call is made again."""
    pg = request.getfixturevalue("pg")
    with serving(tmp_path, db=pg.create_database("restart")) as srv:
        fleet = Fleet(srv)
        run = fleet.run(action("one"))
        spec = run.next_action()
        pg.restart()
        assert run.machine.report(spec, A.RUNNING).stored
        assert run.state() == "RUNNING"
