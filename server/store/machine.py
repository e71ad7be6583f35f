"""What the machine API does, one transaction per call. Each function takes what the
request said and who the token says is calling, and answers in wire shapes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, func, select, update

from agent.provision import wire
from agent.provision.wire import ActionState, NextKind, WorkflowState
from server.errors import Conflict, Forbidden, TooLarge
from server.states import RESTARTED, Verdict, judge
from server.store import hardware as hw
from server.store import tokens
from server.store.dialect import upsert
from server.store.schema import action, hardware, log_line, report, workflow
from server.store.transitions import (
    action_row,
    apply,
    ended_by_server,
    expire_if_overdue,
    lock_workflow,
    record_only,
)

A = ActionState
W = WorkflowState
MAX_LOG_LINES = 1_000_000  # per attempt; a runaway action's output stops being kept here
MAX_LINE_CHARS = 16 * 1024


@dataclass(frozen=True)
class Timings:
    heartbeat_seconds: float = 10.0
    poll_seconds: float = 5.0
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    unknown_retry_after: float = 30.0


@dataclass(frozen=True)
class Found:
    token: str
    hardware: str
    restarted: tuple[str, ...]  # actions that were RUNNING when the machine looked up again


def lookup(
    conn: Connection,
    macs: tuple[str, ...],
    inventory: dict[str, Any],
    agent_version: str,
    address: str | None,
    now: float,
) -> Found | None:
    """The machine's new per-boot token, or None (the MACs were recorded as unknown)."""
    owners = hw.by_macs(conn, macs)
    if not owners:
        hw.record_unknown(conn, macs, address, inventory, now)
        return None
    if len(owners) > 1:
        names = ", ".join(str(hw.get_by_id(conn, o).name) for o in owners)
        raise Conflict(
            f"the MACs {', '.join(macs)} belong to several hardware records "
            f"({names}); keep each machine's MACs on one record"
        )
    hw_id = owners[0]
    restarted = []
    running = conn.execute(
        select(action.c.id, action.c.workflow_id)
        .where(action.c.hardware_id == hw_id, action.c.state == A.RUNNING.value)
        .order_by(action.c.workflow_id)
    ).all()
    for act_id, wf_id in running:
        wf = lock_workflow(conn, wf_id)
        act = action_row(conn, act_id)
        if act.state == A.RUNNING.value:
            apply(conn, wf, act, A.FAILED, act.attempt, RESTARTED, None, now, by_server=True)
            restarted.append(act_id)
    row = conn.execute(
        select(hardware.c.name).where(hardware.c.id == hw_id).with_for_update()
    ).one()
    conn.execute(
        update(hardware)
        .where(hardware.c.id == hw_id)
        .values(
            inventory=inventory,
            inventory_at=now,
            agent_version=agent_version[:100],
            address=address,
        )
    )
    token = tokens.issue_machine_token(conn, hw_id, now)
    return Found(token, str(row.name), tuple(restarted))


def _current_workflow(conn: Connection, hw_id: int) -> Row[Any] | None:
    """The machine's oldest workflow still to run; else the one that ended last."""
    involved = select(action.c.workflow_id).where(action.c.hardware_id == hw_id)
    base = select(workflow).where(workflow.c.id.in_(involved))
    open_ = conn.execute(
        base.where(workflow.c.state.in_((W.PENDING.value, W.RUNNING.value)))
        .order_by(workflow.c.created_at, workflow.c.id)
        .limit(1)
    ).first()
    if open_ is not None:
        return open_
    return conn.execute(
        base.order_by(func.coalesce(workflow.c.stopped_at, workflow.c.created_at).desc()).limit(1)
    ).first()


def spec_of(act: Row[Any]) -> wire.ActionSpec:
    return wire.ActionSpec(
        id=act.id,
        workflow=act.workflow_id,
        task=act.task,
        name=act.name,
        image=act.image,
        timeout=act.timeout,
        attempt=act.attempt,
        retries=act.retries,
        command=tuple(act.command),
        environment=dict(act.environment),
        volumes=tuple(act.volumes),
        pid=act.pid,
    )


def next_action(
    conn: Connection, caller: tokens.Machine, timings: Timings, now: float
) -> wire.NextReply:
    wf = _current_workflow(conn, caller.hardware_id)
    if wf is None:
        return wire.NextReply(
            NextKind.WAIT,
            message=f"no workflow for {caller.hardware} yet",
            retry_after=timings.poll_seconds,
        )
    wf = expire_if_overdue(conn, lock_workflow(conn, wf.id), now)
    state = W(wf.state)
    if state is W.SUCCESS:
        return wire.NextReply(NextKind.DONE, workflow=wf.id, retry_after=timings.poll_seconds)
    if state.ended:
        return wire.NextReply(
            NextKind.FAILED, workflow=wf.id, message=wf.message, retry_after=timings.poll_seconds
        )
    act = conn.execute(
        select(action)
        .where(action.c.workflow_id == wf.id, action.c.state != A.SUCCESS.value)
        .order_by(action.c.position)
        .limit(1)
    ).one()
    if act.hardware_id != caller.hardware_id:
        return wire.NextReply(
            NextKind.WAIT,
            workflow=wf.id,
            retry_after=timings.poll_seconds,
            message=f"task {act.task} runs on {act.worker} first",
        )
    return wire.NextReply(
        NextKind.ACTION, action=spec_of(act), workflow=wf.id, retry_after=timings.poll_seconds
    )


def _own_action(conn: Connection, caller: tokens.Machine, action_id: str) -> Row[Any]:
    act = action_row(conn, action_id)
    if act.hardware_id != caller.hardware_id:
        raise Forbidden(f"action {action_id} belongs to another machine's workflow")
    return act


def take_report(
    conn: Connection, caller: tokens.Machine, r: wire.Report, now: float
) -> wire.ReportReply:
    act = _own_action(conn, caller, r.action_id)
    wf = expire_if_overdue(conn, lock_workflow(conn, act.workflow_id), now)
    act = action_row(conn, r.action_id)
    stored = conn.execute(
        select(report.c.retry).where(
            report.c.action_id == r.action_id,
            report.c.attempt == r.attempt,
            report.c.state == r.state.value,
        )
    ).first()
    if stored is not None:
        return wire.ReportReply(False, W(wf.state), bool(stored.retry))
    verdict = judge(
        A(act.state),
        act.attempt,
        W(wf.state),
        r.state,
        r.attempt,
        ended_by_server=ended_by_server(conn, act.id, r.attempt),
    )
    if verdict.verdict is Verdict.CONFLICT:
        raise Conflict(
            f"report {r.state.value} for {act.task}/{act.name} attempt {r.attempt}: "
            f"{verdict.reason}"
        )
    if verdict.verdict is Verdict.RECORD:
        record_only(conn, act, r.attempt, r.state, r.message, r.seconds, now)
        return wire.ReportReply(True, W(wf.state))
    retry, wf_state = apply(conn, wf, act, r.state, r.attempt, r.message, r.seconds, now)
    return wire.ReportReply(True, wf_state, retry)


def heartbeat(
    conn: Connection, caller: tokens.Machine, hb: wire.Heartbeat, now: float
) -> wire.HeartbeatReply:
    tokens.seen(conn, caller.token_hash, now)
    if hb.action_id is None:
        return wire.HeartbeatReply()
    act = _own_action(conn, caller, hb.action_id)
    wf = expire_if_overdue(conn, lock_workflow(conn, act.workflow_id), now)
    act = action_row(conn, hb.action_id)
    attempt = act.attempt if hb.attempt is None else hb.attempt
    if W(wf.state).ended:
        return wire.HeartbeatReply(cancel=True, message=f"workflow {wf.state}: {wf.message}")
    if attempt != act.attempt or A(act.state).ended:
        return wire.HeartbeatReply(
            cancel=True, message=f"attempt {attempt} of {act.name} is over ({act.message})"
        )
    values: dict[str, Any] = {"heartbeat_at": now}
    if hb.progress is not None:
        values.update(
            progress_done=hb.progress.done,
            progress_total=hb.progress.total,
            progress_unit=hb.progress.unit[:20],
        )
    conn.execute(update(action).where(action.c.id == act.id).values(**values))
    return wire.HeartbeatReply()


def add_log(conn: Connection, caller: tokens.Machine, batch: wire.LogLines) -> wire.LogReply:
    act = _own_action(conn, caller, batch.action_id)
    if batch.attempt > act.attempt or batch.attempt < 1:
        raise Conflict(
            f"log for attempt {batch.attempt} of {act.name}: the action is at attempt {act.attempt}"
        )
    if not batch.lines:
        return wire.LogReply(0)
    if batch.first + len(batch.lines) > MAX_LOG_LINES:
        raise TooLarge(f"log of {act.name}: more than {MAX_LOG_LINES} lines are not kept")
    rows = [
        {
            "action_id": act.id,
            "attempt": batch.attempt,
            "n": batch.first + i,
            "text": line[:MAX_LINE_CHARS],
        }
        for i, line in enumerate(batch.lines)
    ]
    # RETURNING, not rowcount: drivers disagree on rowcount for INSERT … ON CONFLICT
    added = conn.execute(
        upsert(conn, log_line).values(rows).on_conflict_do_nothing().returning(log_line.c.n)
    ).all()
    return wire.LogReply(len(added))
