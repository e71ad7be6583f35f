"""The `metalinit` client commands, run as the user runs them, against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent.provision.wire import ActionState as A
from tests.server.fleet import Fleet, action, task, template_text
from tests.server.serving import Served


def cli(
    served: Served | None, *args: str, token: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("METALINIT_")}
    if served is not None:
        environ["METALINIT_SERVER"] = served.url
        if token:
            environ["METALINIT_TOKEN"] = served.token
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def one_line_error(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and words in done.stderr, done.stderr


def test_hw_add_list_show_rm(sqlite_served: Served) -> None:
    mac = Fleet(sqlite_served).mac()
    out = ok(
        cli(sqlite_served, "hw", "add", "--mac", mac, "--disk", "/dev/sda", "--label", "rack=r7")
    )
    name = mac.replace(":", "-")
    assert out.strip() == f"hardware {name}: {mac}"
    one_line_error(cli(sqlite_served, "hw", "add", "--mac", mac), "--replace")
    assert name in ok(cli(sqlite_served, "hw", "list"))
    shown = ok(cli(sqlite_served, "hw", "show", mac))
    assert f"name: {name}" in shown and "disks: /dev/sda" in shown and "labels: rack=r7" in shown
    assert json.loads(ok(cli(sqlite_served, "hw", "show", name, "--json")))["macs"] == [mac]
    assert ok(cli(sqlite_served, "hw", "rm", name)).strip() == f"removed hardware {name}"
    one_line_error(cli(sqlite_served, "hw", "show", name), "no hardware")


def test_hw_list_unknown_shows_machines_that_asked(sqlite_served: Served) -> None:
    mac = Fleet(sqlite_served).mac()
    reply = sqlite_served.machine().post("/api/v1/machine/lookup", {"macs": [mac]})
    assert reply.status_code == 404
    assert mac in ok(cli(sqlite_served, "hw", "list", "--unknown"))
    listed = json.loads(ok(cli(sqlite_served, "hw", "list", "--unknown", "--json")))
    assert mac in {u["mac"] for u in listed}


def test_template_add_list_show_rm(sqlite_served: Served, tmp_path: Path) -> None:
    mac = Fleet(sqlite_served).mac()
    text = template_text("cli-tpl", [task("os", mac, [action("a")])])
    path = tmp_path / "t.yaml"
    path.write_text(text)
    assert ok(cli(sqlite_served, "template", "add", str(path))).strip() == "template cli-tpl saved"
    assert "cli-tpl" in ok(cli(sqlite_served, "template", "list"))
    assert ok(cli(sqlite_served, "template", "show", "cli-tpl")) == text
    ok(cli(sqlite_served, "template", "rm", "cli-tpl"))
    one_line_error(cli(sqlite_served, "template", "show", "cli-tpl"), "no template")
    one_line_error(
        cli(sqlite_served, "template", "add", str(tmp_path / "none.yaml")), "No such file"
    )
    wrapped = tmp_path / "object.yaml"
    wrapped.write_text(
        'apiVersion: "tinkerbell.org/v1alpha1"\nkind: Template\nmetadata: {name: x}\n'
        "spec:\n  data: |\n" + "".join(f"    {line}\n" for line in text.splitlines())
    )
    one_line_error(cli(sqlite_served, "template", "add", str(wrapped)), "metalinit apply -f")


def _workflow(served: Served, *actions: dict[str, object]) -> tuple[str, str]:
    fleet = Fleet(served)
    _, mac = fleet.machine()
    tpl = fleet.template([task("os", mac, list(actions))])
    out = ok(cli(served, "workflow", "create", "--template", tpl, "--hardware", f"device_1={mac}"))
    return out.strip().splitlines()[-1], mac


def test_workflow_create_prints_the_id_last_and_list_show_logs_find_it(
    sqlite_served: Served,
) -> None:
    wf_id, mac = _workflow(sqlite_served, action("write"))
    assert wf_id.startswith("wf-")
    assert wf_id in ok(cli(sqlite_served, "workflow", "list"))
    client = sqlite_served.machine()
    client.lookup([mac])
    spec = client.next().action
    assert spec is not None
    client.report(spec, A.RUNNING)
    client.log(spec, 0, ["hello from the machine"])
    shown = ok(cli(sqlite_served, "workflow", "show", wf_id))
    assert "os/write" in shown and "RUNNING" in shown
    assert json.loads(ok(cli(sqlite_served, "workflow", "show", wf_id, "--json")))["id"] == wf_id
    logs = ok(cli(sqlite_served, "workflow", "logs", wf_id, "write"))
    assert logs == "[os/write #1] hello from the machine\n"
    client.report(spec, A.FAILED, "bad disk")
    out = ok(cli(sqlite_served, "workflow", "retry", wf_id))
    assert "PENDING" in out and "write" in out
    one_line_error(cli(sqlite_served, "workflow", "retry", wf_id), "only an ended workflow")
    one_line_error(
        cli(sqlite_served, "workflow", "create", "--template", "x", "--hardware", "device_1"),
        "KEY=VALUE",
    )


def _drive(served: Served, mac: str, end: A, delay: float) -> threading.Thread:
    def work() -> None:
        client = served.machine()
        client.lookup([mac])
        spec = client.next().action
        assert spec is not None
        client.report(spec, A.RUNNING)
        time.sleep(delay)
        client.heartbeat(spec, 300 << 20, 1 << 30)
        time.sleep(delay)
        client.report(spec, end, "the end")

    thread = threading.Thread(target=work)
    thread.start()
    return thread


@pytest.mark.parametrize(("end", "status"), [(A.SUCCESS, 0), (A.FAILED, 1)])
def test_workflow_watch_follows_to_the_end(sqlite_served: Served, end: A, status: int) -> None:
    wf_id, mac = _workflow(sqlite_served, action("image2disk"))
    thread = _drive(sqlite_served, mac, end, 0.7)
    done = cli(sqlite_served, "workflow", "watch", wf_id, "--interval", "0.2")
    thread.join()
    assert done.returncode == status, done.stderr
    assert end.value in done.stdout and "os/image2disk" in done.stdout


def test_the_token_comes_from_the_data_directory(sqlite_served: Served) -> None:
    out = ok(cli(sqlite_served, "hw", "list", "--data", str(sqlite_served.data), token=False))
    assert "name" in out
    env = {"METALINIT_DATA": str(sqlite_served.data)}
    ok(cli(sqlite_served, "hw", "list", token=False, env=env))


def test_client_errors_are_one_readable_line(sqlite_served: Served, tmp_path: Path) -> None:
    one_line_error(
        cli(
            None,
            "hw",
            "list",
            env={"METALINIT_SERVER": "http://127.0.0.1:9", "METALINIT_TOKEN": "at_x"},
        ),
        "cannot reach",
    )
    one_line_error(
        cli(sqlite_served, "hw", "list", "--data", str(tmp_path), token=False), "no admin token"
    )
    one_line_error(
        cli(sqlite_served, "hw", "list", env={"METALINIT_TOKEN": "at_" + "x" * 40}),
        "admin token is not valid",
    )
    one_line_error(cli(sqlite_served, "workflow", "show", "wf-nothing"), "no workflow")
