"""Benchmark: the machine API under 500 simulated workers, on loopback.

In one run, the same scripted load (asyncio, one connection per worker, think times from
a fixed seed; workers boot at random moments over --spread seconds; each worker: lookup, then ACTIONS times next → report RUNNING → heartbeats
with progress → log lines → report SUCCESS, then a last next) against:
  (a) one `metalinit serve` on SQLite,
  (b) two `metalinit serve` on one PostgreSQL (workers split between them),
  (c) a baseline: a minimal uvicorn app answering each path with a constant JSON.
Prints a markdown table of requests/s and p50/p99 per call type, and for (a) and (b) the
reports counted in the database afterwards: lost (acknowledged, not stored) and
duplicated (stored more than once, or "stored" answered more than once).

The default think times (1-5 s between calls) make each worker call more often than the
real one does (it polls every 5 s and beats every 10 s); `--think-min 0.5 --think-max 1.5`
is a stress run that shows where this machine saturates.

Targets (issue #10): p99 under 50 ms for every call at 500 workers, at most 3x the
baseline's p99, zero lost or duplicated reports.

usage: flock /tmp/metalinit-heavy.lock .venv/bin/python bench/server.py
           [--workers 500] [--actions 3] [--think-min 0.5] [--think-max 1.5] [--seed 1]
       (PostgreSQL runs as root's `postgres` user; without root, (b) is left out)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.server import postgres  # noqa: E402
from tests.server.fleet import Fleet, action, task  # noqa: E402
from tests.server.serving import Served, serving  # noqa: E402
from tests.server.simulated import Plan, Tally, Think, percentile, run_fleet  # noqa: E402

CALLS = ("lookup", "next", "report", "heartbeat", "log")
BASELINE_APP = """
import json
REPLIES = {
    "/api/v1/machine/lookup": {"token": "mt_baseline", "hardware": "m", "heartbeat_seconds": 10.0,
                               "poll_seconds": 5.0, "backoff_initial": 1.0, "backoff_max": 60.0},
    "/api/v1/machine/next": {"kind": "action", "workflow": "wf", "message": "", "retry_after": 5.0,
                             "rescue": False, "action": {"id": "wf.0", "workflow": "wf", "task": "os",
                             "name": "a", "image": "img", "timeout": 60, "attempt": 1, "retries": 0,
                             "command": [], "environment": {}, "volumes": [], "pid": ""}},
    "/api/v1/machine/report": {"stored": True, "workflow_state": "RUNNING", "retry": False},
    "/api/v1/machine/heartbeat": {"cancel": False, "rescue": False, "message": ""},
    "/api/v1/machine/log": {"stored": 2},
}
BODIES = {k.encode(): json.dumps(v).encode() for k, v in REPLIES.items()}

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    body = BODIES.get(scope["path"].encode(), b"{}")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
"""


@contextlib.contextmanager
def baseline(tmp: Path) -> Iterator[str]:
    (tmp / "baseline_app.py").write_text(BASELINE_APP)
    sock = tmp / "port"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket,sys,uvicorn\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_STREAM,socket.IPPROTO_TCP)\n"
            "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(('127.0.0.1',0)); s.listen(2048)\n"
            f"open({str(sock)!r},'w').write(str(s.getsockname()[1]))\n"
            "import baseline_app\n"
            "uvicorn.Server(uvicorn.Config(baseline_app.app, log_level='warning', access_log=False, timeout_keep_alive=75, loop='asyncio')).run(sockets=[s])",
        ],
        cwd=tmp,
    )
    try:
        deadline = time.monotonic() + 20
        while not sock.exists() or not sock.read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("the baseline did not start")
            time.sleep(0.05)
        time.sleep(0.5)
        yield f"http://127.0.0.1:{sock.read_text()}"
    finally:
        proc.terminate()
        proc.wait(10)


def prepare(served: Served, workers: int, actions: int) -> tuple[list[str], list[str]]:
    """Hardware and a workflow for each simulated worker, through the admin API."""
    fleet = Fleet(served)
    rendered = importlib.util.find_spec("server.tinkerbell") is not None
    shared = None
    if rendered:  # one template for all, as a fleet would have it
        shared = fleet.template(
            [task("os", "{{.device_1}}", [action(f"a{n}") for n in range(actions)])]
        )
    macs, ids = [], []
    for _ in range(workers):
        _, mac = fleet.machine()
        name = shared or fleet.template(
            [task("os", mac, [action(f"a{n}") for n in range(actions)])]
        )
        ids.append(fleet.admin.create_workflow(name, {"device_1": mac})["id"])
        macs.append(mac)
    return macs, ids


def count_reports(served: Served, ids: list[str], tally: Tally) -> tuple[int, int]:
    """(lost, duplicated) as the database has them after the run."""
    stored: Counter[tuple[str, int, str]] = Counter()
    admin = served.admin()
    for wf_id in ids:
        for act in admin.workflow(wf_id)["actions"]:
            for r in act["reports"]:
                stored[(act["id"], r["attempt"], r["state"])] += 1
    lost = len(tally.acknowledged - set(stored))
    duplicated = sum(n - 1 for n in stored.values() if n > 1)
    duplicated += sum(n - 1 for n in tally.stored_true.values() if n > 1)
    return lost, duplicated


def row(setup: str, tally: Tally, kind: str | None, base_p99: dict[str, float]) -> str:
    wall = tally.stopped - tally.started
    values = (
        tally.latencies.get(kind, [])
        if kind
        else [v for vs in tally.latencies.values() for v in vs]
    )
    p50, p99 = percentile(values, 0.50) * 1000, percentile(values, 0.99) * 1000
    ratio = f"{p99 / base_p99[kind or 'all']:.2f}x" if base_p99.get(kind or "all") else "-"
    return (
        f"| {setup} | {kind or '**all**'} | {len(values)} | {len(values) / wall:.0f} | "
        f"{p50:.1f} | {p99:.1f} | {ratio} |"
    )


def p99s(tally: Tally) -> dict[str, float]:
    out = {k: percentile(v, 0.99) * 1000 for k, v in tally.latencies.items()}
    out["all"] = percentile([v for vs in tally.latencies.values() for v in vs], 0.99) * 1000
    return out


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--workers", type=int, default=500)
    p.add_argument("--actions", type=int, default=3)
    p.add_argument("--heartbeats", type=int, default=2)
    p.add_argument("--think-min", type=float, default=1.0)
    p.add_argument("--think-max", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--spread",
        type=float,
        default=10.0,
        help="workers boot at random moments over this many seconds",
    )
    p.add_argument("--limit", type=float, default=300.0, help="seconds per setup, at most")
    args = p.parse_args()
    plan = Plan(
        heartbeats=args.heartbeats,
        think=Think(args.think_min, args.think_max),
        scripted_actions=args.actions,
        start_spread=args.spread,
    )
    results: list[tuple[str, Tally, tuple[int, int] | None]] = []

    def load(urls: list[str]) -> Tally:
        return asyncio.run(run_fleet(urls, macs, plan, seed=args.seed, limit_seconds=args.limit))

    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp_name:
        tmp = Path(tmp_name)
        with baseline(tmp) as url:
            macs = [
                f"02:00:00:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}"
                for n in range(args.workers)
            ]
            results.append(("baseline (constant JSON)", load([url]), None))
        with serving(tmp / "sqlite", extra=["--log-level", "warning"]) as srv:
            macs, ids = prepare(srv, args.workers, args.actions)
            tally = load([srv.url])
            results.append(("1 serve, SQLite", tally, count_reports(srv, ids, tally)))
        why = postgres.available()
        if why:
            print(f"(b) left out: {why}", file=sys.stderr)
        else:
            pg = postgres.start()
            try:
                db = pg.create_database("bench")
                with (
                    serving(tmp / "pg-a", db=db, extra=["--log-level", "warning"]) as a,
                    serving(tmp / "pg-b", db=db, extra=["--log-level", "warning"]) as b,
                ):
                    macs, ids = prepare(a, args.workers, args.actions)
                    tally = load([a.url, b.url])
                    results.append(("2 serve, PostgreSQL", tally, count_reports(a, ids, tally)))
            finally:
                pg.stop()

    base = p99s(results[0][1])
    print(
        f"\n{args.workers} workers, {args.actions} actions each, {args.heartbeats} heartbeats "
        f"per action, think {args.think_min}-{args.think_max} s, seed {args.seed}\n"
    )
    print("| setup | call | requests | req/s | p50 ms | p99 ms | p99 vs baseline |")
    print("|---|---|---|---|---|---|---|")
    for setup, tally, _ in results:
        for kind in (*CALLS, None):
            if kind is None or tally.latencies.get(kind):
                print(row(setup, tally, kind, base if setup != results[0][0] else {}))
    print()
    for setup, tally, counts in results:
        errors = len(tally.errors)
        done = f"{tally.workers_done}/{args.workers} workers finished, {errors} errors"
        if counts is not None:
            done += (
                f", reports: {len(tally.acknowledged)} acknowledged, {counts[0]} lost, "
                f"{counts[1]} duplicated"
            )
        print(f"- {setup}: {done}")
        for line in tally.errors[:3]:
            print(f"  - {line}")
    summary = {setup: p99s(t) for setup, t, _ in results}
    print("\n" + json.dumps(summary, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
