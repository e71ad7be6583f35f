"""Machine and admin tokens: missing, wrong, stale, another machine's, the wrong kind."""

from __future__ import annotations

import sqlite3
import stat

import pytest
import requests

from agent.provision import wire
from agent.provision.wire import ActionState as A
from server.cli.client import AdminClient, ClientError
from tests.server.fleet import Fleet, action
from tests.server.serving import Refused, Served

MACHINE_CALLS = [wire.NEXT, wire.REPORT, wire.HEARTBEAT, wire.LOG]


@pytest.mark.parametrize("path", MACHINE_CALLS)
@pytest.mark.parametrize("token", [None, "", "mt_not-a-token-anyone-was-given"])
def test_a_machine_call_without_a_valid_token_is_401(
    served: Served, path: str, token: str | None
) -> None:
    reply = served.machine().post(path, {}, token=token)
    assert reply.status_code == 401
    assert reply.json()["code"] == wire.BAD_TOKEN
    assert reply.headers["www-authenticate"] == "Bearer"


def test_the_previous_boots_token_stops_working(fleet: Fleet) -> None:
    _, mac = fleet.machine()
    client = fleet.served.machine()
    old = client.lookup([mac]).token
    new = client.lookup([mac]).token
    assert old != new
    assert client.post(wire.NEXT, {}, token=old).status_code == 401
    assert client.post(wire.NEXT, {}, token=new).status_code == 200


def test_another_machines_action_is_403(fleet: Fleet) -> None:
    run = fleet.run(action("mine"))
    spec = run.next_action()
    run.machine.report(spec, A.RUNNING)
    _, other_mac = fleet.machine()
    other = fleet.served.machine()
    other.lookup([other_mac])
    with pytest.raises(Refused) as report:
        other.report(spec, A.SUCCESS)
    with pytest.raises(Refused) as beat:
        other.heartbeat(spec, 1, 2)
    with pytest.raises(Refused) as log:
        other.log(spec, 0, ["not mine"])
    for refused in (report, beat, log):
        assert refused.value.status == 403 and refused.value.problem.code == wire.FORBIDDEN
    assert run.view()["actions"][0]["state"] == "RUNNING"


def test_a_machine_token_on_an_admin_call_is_403(fleet: Fleet) -> None:
    _, mac = fleet.machine()
    token = fleet.served.machine().lookup([mac]).token
    with pytest.raises(ClientError) as refused:
        AdminClient(fleet.served.url, token).hardware_list()
    assert refused.value.status == 403 and "machine token" in str(refused.value)


def test_an_admin_token_on_a_machine_call_is_403(served: Served) -> None:
    reply = served.machine().post(wire.NEXT, {}, token=served.token)
    assert reply.status_code == 403 and "admin token" in reply.json()["detail"]


@pytest.mark.parametrize("token", ["", "at_wrong-admin-token-of-enough-length-0000"])
def test_an_admin_call_without_the_admin_token_is_401(served: Served, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reply = requests.get(served.url + "/api/v1/hardware", headers=headers, timeout=10)
    assert reply.status_code == 401 and reply.json()["code"] == wire.BAD_TOKEN


def test_the_admin_token_file_is_private_and_long(served: Served) -> None:
    path = served.data / "admin-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert served.token.startswith("at_") and len(served.token) >= 3 + 43


def test_only_hashes_of_tokens_are_stored(sqlite_served: Served) -> None:
    fleet = Fleet(sqlite_served)
    _, mac = fleet.machine()
    machine_token = sqlite_served.machine().lookup([mac]).token
    db = sqlite3.connect(sqlite_served.data / "metalinit.db")
    dump = "\n".join(db.iterdump())
    db.close()
    assert machine_token not in dump and sqlite_served.token not in dump
    assert machine_token[3:20] not in dump
