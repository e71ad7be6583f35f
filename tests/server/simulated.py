"""Simulated workers (asyncio, httpx): each looks up, then loops next → report RUNNING →
heartbeats with progress and log lines → report SUCCESS until its workflow is done,
with think times drawn from a seeded generator. Every reply is timed per call type and
every acknowledged report is remembered, so the database can be checked afterwards:
each report stored exactly once, none lost. Used by tests/server/test_load.py (small
numbers) and bench/server.py (500 workers)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent.provision import wire

Identity = tuple[str, int, str]  # (action id, attempt, state)


@dataclass(frozen=True)
class Think:
    """Seconds a worker waits between calls: uniform in [low, high]."""

    low: float = 0.0
    high: float = 0.0

    def draw(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high) if self.high > 0 else 0.0


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    acknowledged: set[Identity] = field(default_factory=set)
    stored_true: Counter[Identity] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    workers_done: int = 0
    started: float = field(default_factory=time.monotonic)
    stopped: float = 0.0

    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())


@dataclass(frozen=True)
class Plan:
    heartbeats: int = 2  # per action, each with progress
    log_batches: int = 1
    duplicate_reports: bool = False  # send each report twice, at the same time
    think: Think = Think()
    # a fixed script (for comparing servers): exactly this many actions, then one last
    # NEXT, whatever the answers say; the baseline answers NEXT with the same action always
    scripted_actions: int | None = None
    start_spread: float = 0.0  # each worker boots at a random moment in [0, this) seconds


class Worker:
    def __init__(
        self,
        clients: Sequence[httpx.AsyncClient],
        mac: str,
        rng: random.Random,
        plan: Plan,
        tally: Tally,
    ) -> None:
        self.clients = clients
        self.turn = 0
        self.mac = mac
        self.rng = rng
        self.plan = plan
        self.tally = tally
        self.token = ""

    def _client(self) -> httpx.AsyncClient:
        self.turn += 1
        return self.clients[self.turn % len(self.clients)]

    async def call(
        self, kind: str, path: str, body: Any, client: httpx.AsyncClient | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        start = time.perf_counter()
        try:
            reply = await (client or self._client()).post(path, json=body, headers=headers)
        except httpx.TransportError as err:  # counted, and the caller's loop goes on
            self.tally.errors.append(f"{kind}: {type(err).__name__} {err}")
            return 0, {}
        self.tally.latencies[kind].append(time.perf_counter() - start)
        return reply.status_code, reply.json()

    async def think(self) -> None:
        pause = self.plan.think.draw(self.rng)
        if pause:
            await asyncio.sleep(pause)

    async def report(self, spec: wire.ActionSpec, state: wire.ActionState) -> None:
        body = wire.Report(spec.id, spec.attempt, state, "", 0.1).to_json()
        sends = 2 if self.plan.duplicate_reports else 1
        clients = [self._client() for _ in range(sends)]
        replies = await asyncio.gather(
            *(self.call("report", wire.REPORT, body, c) for c in clients)
        )
        identity = (spec.id, spec.attempt, state.value)
        for status, data in replies:
            if status != 200:
                self.tally.errors.append(f"report {identity}: {status} {data}")
                continue
            self.tally.acknowledged.add(identity)
            if data["stored"]:
                self.tally.stored_true[identity] += 1

    async def run_action(self, spec: wire.ActionSpec) -> None:
        await self.report(spec, wire.ActionState.RUNNING)
        total = 1 << 30
        for n in range(self.plan.heartbeats):
            await self.think()
            beat = wire.Heartbeat(spec.id, spec.attempt, wire.Progress((n + 1) * total // 4, total))
            status, data = await self.call("heartbeat", wire.HEARTBEAT, beat.to_json())
            if status != 200:
                self.tally.errors.append(f"heartbeat: {status} {data}")
        for n in range(self.plan.log_batches):
            lines = wire.LogLines(
                spec.id, spec.attempt, n * 2, (f"line {n * 2}", f"line {n * 2 + 1}")
            )
            status, data = await self.call("log", wire.LOG, lines.to_json())
            if status != 200:
                self.tally.errors.append(f"log: {status} {data}")
        await self.think()
        await self.report(spec, wire.ActionState.SUCCESS)

    async def run(self, deadline: float) -> None:
        if self.plan.start_spread > 0:
            await asyncio.sleep(self.rng.uniform(0, self.plan.start_spread))
        body = wire.LookupRequest((self.mac,), {"cpu": {"count": 2}}, "simulated").to_json()
        while time.monotonic() < deadline:
            status, data = await self.call("lookup", wire.LOOKUP, body)
            if status == 200:
                self.token = data["token"]
                break
            await asyncio.sleep(0.2)
        if self.plan.scripted_actions is not None:
            await self.run_script(self.plan.scripted_actions)
            return
        while time.monotonic() < deadline:
            await self.think()
            status, data = await self.call("next", wire.NEXT, {})
            if status != 200:
                self.tally.errors.append(f"next: {status} {data}")
                await asyncio.sleep(0.2)
                continue
            reply = wire.NextReply.from_json(data)
            if reply.kind is wire.NextKind.DONE:
                self.tally.workers_done += 1
                return
            if reply.kind is wire.NextKind.FAILED:
                self.tally.errors.append(f"{self.mac}: workflow failed: {reply.message}")
                return
            if reply.action is None:
                await asyncio.sleep(min(reply.retry_after, 1.0))
                continue
            await self.run_action(reply.action)

    async def run_script(self, actions: int) -> None:
        for _ in range(actions):
            await self.think()
            status, data = await self.call("next", wire.NEXT, {})
            reply = wire.NextReply.from_json(data) if status == 200 else None
            if reply is None or reply.action is None:
                self.tally.errors.append(f"{self.mac}: next: {status} {data}")
                return
            await self.run_action(reply.action)
        await self.think()
        status, data = await self.call("next", wire.NEXT, {})
        if status == 200:
            self.tally.workers_done += 1


async def run_fleet(
    urls: Sequence[str],
    macs: Sequence[str],
    plan: Plan,
    *,
    seed: int = 1,
    limit_seconds: float = 120.0,
    per_worker_servers: int = 0,
) -> Tally:
    """Run one worker per MAC. With `per_worker_servers=0` each worker has one
    connection, to the server its index picks (`urls` round robin); with N, each worker
    has a connection to N servers and alternates between them call by call."""
    tally = Tally()
    deadline = time.monotonic() + limit_seconds
    master = random.Random(seed)
    clients: list[httpx.AsyncClient] = []
    workers = []
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    for n, mac in enumerate(macs):
        count = per_worker_servers or 1
        mine = [
            httpx.AsyncClient(base_url=urls[(n + k) % len(urls)], limits=limits, timeout=60.0)
            for k in range(count)
        ]
        clients.extend(mine)
        workers.append(Worker(mine, mac, random.Random(master.random()), plan, tally))
    try:
        await asyncio.gather(*(w.run(deadline) for w in workers))
    finally:
        tally.stopped = time.monotonic()
        await asyncio.gather(*(c.aclose() for c in clients))
    return tally


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]
