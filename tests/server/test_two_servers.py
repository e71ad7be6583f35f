"""Two `metalinit serve` processes on one PostgreSQL, as behind a load balancer: the same
guarantees as one (no report lost or stored twice, one valid token per machine, one
server timing a workflow out), with the calls of one machine spread over both."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from agent.provision import wire
from agent.provision.wire import ActionState as A
from tests.server.fleet import Fleet, action, task
from tests.server.postgres import Postgres
from tests.server.serving import MachineClient, Served, serving
from tests.server.simulated import Plan, Think, run_fleet
from tests.server.test_load import ACTIONS, WORKERS, check_stored_once, prepare


@pytest.fixture(scope="module")
def pair(pg: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Served]]:
    url = pg.create_database("two_servers")
    tmp = tmp_path_factory.mktemp("two")
    with (
        serving(tmp / "a", db=url, extra=["--poll", "0.2"]) as a,
        serving(tmp / "b", db=url, extra=["--poll", "0.2"]) as b,
    ):
        yield a, b


def test_each_servers_admin_token_works_on_both(pair: tuple[Served, Served]) -> None:
    a, b = pair
    name, _ = Fleet(a).machine()
    assert b.admin().hardware(name)["name"] == name
    assert a.token != b.token


def test_a_workflow_made_on_one_runs_through_the_other(pair: tuple[Served, Served]) -> None:
    a, b = pair
    fleet = Fleet(a)
    _, mac = fleet.machine()
    tpl = fleet.template([task("os", mac, [action("one"), action("two")])])
    wf = fleet.admin.create_workflow(tpl, {"device_1": mac})
    via_b = b.machine()
    via_b.lookup([mac])
    via_a = MachineClient(a.url, via_b.token)
    for client in (via_a, via_b):
        spec = client.next().action
        assert spec is not None
        client.report(spec, A.RUNNING)
        client.report(spec, A.SUCCESS)
    assert b.admin().workflow(wf["id"])["state"] == "SUCCESS"


def test_lookups_racing_on_both_leave_one_valid_token(pair: tuple[Served, Served]) -> None:
    a, b = pair
    _, mac = Fleet(a).machine()

    def look(n: int) -> str:
        return (a if n % 2 else b).machine().lookup([mac]).token

    with ThreadPoolExecutor(16) as pool:
        tokens = list(pool.map(look, range(32)))
    valid = [
        t for t in tokens if MachineClient(a.url).post(wire.NEXT, {}, token=t).status_code == 200
    ]
    assert len(set(tokens)) == 32 and len(valid) == 1


def test_the_same_report_at_both_at_once_is_stored_once(pair: tuple[Served, Served]) -> None:
    a, b = pair
    fleet = Fleet(a)
    run = fleet.run(action("one"))
    spec = run.next_action()
    other = MachineClient(b.url, run.machine.token)
    for state in (A.RUNNING, A.SUCCESS):
        with ThreadPoolExecutor(8) as pool:
            replies = list(
                pool.map(
                    lambda n, s=state: (run.machine if n % 2 else other).report(spec, s), range(8)
                )
            )
        assert sum(r.stored for r in replies) == 1
    assert run.state() == "SUCCESS"
    assert [r["state"] for r in run.view()["actions"][0]["reports"]] == ["RUNNING", "SUCCESS"]


def test_one_of_them_times_a_workflow_out(pair: tuple[Served, Served]) -> None:
    a, _ = pair
    run = Fleet(a).run(action("slow"), global_timeout=1)
    run.machine.report(run.next_action(), A.RUNNING)
    deadline = time.monotonic() + 15
    while run.state() != "TIMEOUT" and time.monotonic() < deadline:
        time.sleep(0.2)
    reports = run.view()["actions"][0]["reports"]
    assert [(r["state"], r["by_server"]) for r in reports] == [
        ("RUNNING", False),
        ("TIMEOUT", True),
    ]


def test_simulated_workers_spread_over_both(pair: tuple[Served, Served]) -> None:
    a, b = pair
    fleet = Fleet(a)
    macs, ids = prepare(fleet, WORKERS, ACTIONS)
    plan = Plan(heartbeats=2, duplicate_reports=True, think=Think(0.0, 0.05))
    tally = asyncio.run(
        run_fleet([a.url, b.url], macs, plan, seed=11, limit_seconds=120, per_worker_servers=2)
    )
    assert tally.workers_done == WORKERS
    check_stored_once(fleet, ids, tally, ACTIONS)
