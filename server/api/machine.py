"""The machine API: the calls the worker makes, at the paths `wire` fixes."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from agent.provision import wire
from server.api import wire_models as m
from server.api.auth import MachineToken, store_of
from server.api.problems import PROBLEMS
from server.errors import UnknownMachine
from server.macs import mac
from server.store import machine as ops
from server.store.machine import Timings

router = APIRouter(tags=["machine"], responses=PROBLEMS)
log = logging.getLogger("metalinit.server")


def _timings(request: Request) -> Timings:
    timings: Timings = request.app.state.timings
    return timings


def _reply(shape: Any) -> JSONResponse:
    return JSONResponse(shape.to_json())


@router.post(wire.LOOKUP, response_model=m.LookupReply, summary="find this machine by its MACs")
def lookup(body: m.LookupRequest, request: Request) -> JSONResponse:
    req = wire.LookupRequest.from_json(body.model_dump(mode="json"))
    macs = tuple(dict.fromkeys(mac(text, "lookup.macs") for text in req.macs))
    address = request.client.host if request.client else None
    timings = _timings(request)
    now = time.time()
    found = store_of(request).write(
        lambda conn: ops.lookup(conn, macs, req.inventory, req.agent_version, address, now)
    )
    if found is None:
        log.info("lookup from %s: unknown MACs %s", address, " ".join(macs))
        raise UnknownMachine(
            f"no hardware has MAC {', '.join(macs)}; an operator can add it "
            f"(metalinit hw add --mac {macs[0]}); asking again later",
            retry_after=timings.unknown_retry_after,
        )
    for action_id in found.restarted:
        log.info(
            "lookup of %s: action %s was running: %s",
            found.hardware,
            action_id,
            "machine restarted during the action",
        )
    log.info("lookup of %s from %s: new boot token", found.hardware, address)
    return _reply(
        wire.LookupReply(
            found.token,
            found.hardware,
            timings.heartbeat_seconds,
            timings.poll_seconds,
            timings.backoff_initial,
            timings.backoff_max,
        )
    )


@router.post(wire.NEXT, response_model=m.NextReply, summary="the next action to run")
def next_action(
    token: MachineToken, request: Request, body: m.NextRequest | None = None
) -> JSONResponse:
    timings = _timings(request)
    now = time.time()
    store = store_of(request)
    reply = store.read(lambda conn: ops.next_action(conn, token, timings, now, writable=False))
    if reply is None:  # a workflow to time out first
        reply = store.write(lambda conn: ops.next_action(conn, token, timings, now, writable=True))
    assert reply is not None
    if reply.action is not None:  # never the environment: it may hold secrets
        log.info("next: %s attempt %d", reply.action.id, reply.action.attempt)
    return _reply(reply)


@router.post(wire.REPORT, response_model=m.ReportReply, summary="an action's state change")
def report(body: m.Report, token: MachineToken, request: Request) -> JSONResponse:
    r = wire.Report.from_json(body.model_dump(mode="json"))
    now = time.time()
    reply = store_of(request).write(lambda conn: ops.take_report(conn, token, r, now))
    already = "" if reply.stored else " (already stored)"
    log.info("report: %s attempt %d %s%s", r.action_id, r.attempt, r.state.value, already)
    return _reply(reply)


@router.post(wire.HEARTBEAT, response_model=m.HeartbeatReply, summary="alive, with progress")
def heartbeat(body: m.Heartbeat, token: MachineToken, request: Request) -> JSONResponse:
    hb = wire.Heartbeat.from_json(body.model_dump(mode="json"))
    now = time.time()
    beat = store_of(request).write(lambda conn: ops.heartbeat(conn, token, hb, now), durable=False)
    return _reply(beat)


@router.post(wire.LOG, response_model=m.LogReply, summary="lines of the running action's output")
def add_log(body: m.LogLines, token: MachineToken, request: Request) -> JSONResponse:
    batch = wire.LogLines.from_json(body.model_dump(mode="json"))
    return _reply(store_of(request).write(lambda conn: ops.add_log(conn, token, batch)))
