"""Many simulated workers at once (small numbers here; bench/server.py has the real
figures): every report each of them had acknowledged is stored exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.server.fleet import Fleet, action, task
from tests.server.simulated import Plan, Tally, Think, run_fleet

WORKERS = 25
ACTIONS = 3


def prepare(fleet: Fleet, workers: int, actions: int) -> tuple[list[str], list[str]]:
    macs, ids = [], []
    for _ in range(workers):
        _, mac = fleet.machine()
        tpl = fleet.template([task("os", mac, [action(f"a{n}") for n in range(actions)])])
        ids.append(fleet.admin.create_workflow(tpl, {"device_1": mac})["id"])
        macs.append(mac)
    return macs, ids


def check_stored_once(fleet: Fleet, ids: list[str], tally: Tally, actions: int) -> None:
    assert tally.errors == []
    stored: Counter[tuple[str, int, str]] = Counter()
    for wf_id in ids:
        view = fleet.admin.workflow(wf_id)
        assert view["state"] == "SUCCESS"
        assert len(view["actions"]) == actions
        for act in view["actions"]:
            for r in act["reports"]:
                stored[(act["id"], r["attempt"], r["state"])] += 1
    assert set(stored) == tally.acknowledged  # nothing acknowledged is missing
    assert set(stored.values()) == {1}  # nothing stored twice
    assert set(tally.stored_true.values()) == {1}  # and exactly one reply said "stored"
    assert len(stored) == len(ids) * actions * 2  # RUNNING and SUCCESS of each action


def test_many_workers_every_report_stored_exactly_once(fleet: Fleet) -> None:
    macs, ids = prepare(fleet, WORKERS, ACTIONS)
    plan = Plan(heartbeats=2, duplicate_reports=True, think=Think(0.0, 0.05))
    tally = asyncio.run(run_fleet([fleet.served.url], macs, plan, seed=7, limit_seconds=120))
    assert tally.workers_done == WORKERS
    check_stored_once(fleet, ids, tally, ACTIONS)
    assert len(fleet.admin.all_logs(ids[0])) == ACTIONS * 2
