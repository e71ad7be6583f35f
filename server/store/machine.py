"""What the machine API does, one transaction per call. Each function takes what the
request said and who the token says is calling, and answers in wire shapes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select, update

from agent.provision import wire
from agent.provision.wire import ActionState, NextKind, WorkflowState
from server.errors import Conflict, Forbidden, TooLarge
from server.states import RESTARTED, Verdict, judge
from server.store import hardware as hw
from server.store import tokens
from server.store.dialect import Prebuilt
from server.store.schema import action, hardware, log_line, workflow
from server.store.transitions import (
    action_row,
    apply,
    ended_by_server,
    expire_if_overdue,
    is_overdue,
    lock_workflow,
    record_only,
    stored_report,
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


_INVOLVED = select(action.c.workflow_id).where(action.c.hardware_id == bindparam("hw"))
OPEN_WORKFLOW = (
    select(workflow)
    .where(workflow.c.id.in_(_INVOLVED), workflow.c.state.in_((W.PENDING.value, W.RUNNING.value)))
    .order_by(workflow.c.created_at, workflow.c.id)
    .limit(1)
)
LAST_WORKFLOW = (
    select(workflow)
    .where(workflow.c.id.in_(_INVOLVED))
    .order_by(func.coalesce(workflow.c.stopped_at, workflow.c.created_at).desc())
    .limit(1)
)
FIRST_UNDONE = (
    select(action)
    .where(action.c.workflow_id == bindparam("wf"), action.c.state != A.SUCCESS.value)
    .order_by(action.c.position)
    .limit(1)
)
WORKFLOW_BY_ID = select(workflow).where(workflow.c.id == bindparam("wf"))
PROGRESS = update(action).where(
    action.c.id == bindparam("b_id"),
    action.c.attempt == bindparam("b_attempt"),
    action.c.state == A.RUNNING.value,
)
LOG_ADD = Prebuilt(
    log_line,
    # RETURNING, not rowcount: drivers disagree on rowcount for INSERT … ON CONFLICT
    lambda insert: insert.on_conflict_do_nothing().returning(log_line.c.n),
)


def _current_workflow(conn: Connection, hw_id: int) -> Row[Any] | None:
    """The machine's oldest workflow still to run; else the one that ended last."""
    found = conn.execute(OPEN_WORKFLOW, {"hw": hw_id}).first()
    return found if found is not None else conn.execute(LAST_WORKFLOW, {"hw": hw_id}).first()


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
    conn: Connection, digest: str, timings: Timings, now: float, *, writable: bool
) -> wire.NextReply | None:
    """What the machine does next. Read-only unless a workflow must be timed out first:
    then, with `writable=False`, None (ask again in a write transaction)."""
    caller = tokens.authenticate(conn, digest)
    wf = _current_workflow(conn, caller.hardware_id)
    poll = timings.poll_seconds
    if wf is None:
        return wire.NextReply(
            NextKind.WAIT, message=f"no workflow for {caller.hardware} yet", retry_after=poll
        )
    if is_overdue(wf, now):
        if not writable:
            return None
        wf = expire_if_overdue(conn, lock_workflow(conn, wf.id), now)
    state = W(wf.state)
    if state is W.SUCCESS:
        return wire.NextReply(NextKind.DONE, workflow=wf.id, retry_after=poll)
    if state.ended:
        return wire.NextReply(NextKind.FAILED, workflow=wf.id, message=wf.message, retry_after=poll)
    act = conn.execute(FIRST_UNDONE, {"wf": wf.id}).one()
    if act.hardware_id != caller.hardware_id:
        return wire.NextReply(
            NextKind.WAIT,
            workflow=wf.id,
            retry_after=poll,
            message=f"task {act.task} runs on {act.worker} first",
        )
    return wire.NextReply(NextKind.ACTION, action=spec_of(act), workflow=wf.id, retry_after=poll)


def _own_action(conn: Connection, caller: tokens.Machine, action_id: str) -> Row[Any]:
    act = action_row(conn, action_id)
    if act.hardware_id != caller.hardware_id:
        raise Forbidden(f"action {action_id} belongs to another machine's workflow")
    return act


def take_report(conn: Connection, digest: str, r: wire.Report, now: float) -> wire.ReportReply:
    caller = tokens.authenticate(conn, digest)
    act = _own_action(conn, caller, r.action_id)
    wf = expire_if_overdue(conn, lock_workflow(conn, act.workflow_id), now)
    act = action_row(conn, r.action_id)  # again, now that nobody else can change it
    tokens.seen(conn, caller, now)
    stored = stored_report(conn, r.action_id, r.attempt, r.state)
    if stored is not None:
        return wire.ReportReply(False, W(wf.state), bool(stored.retry))
    verdict = judge(
        A(act.state),
        act.attempt,
        W(wf.state),
        r.state,
        r.attempt,
        ended_by_server=A(act.state).ended and ended_by_server(conn, act.id, r.attempt),
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


def heartbeat(conn: Connection, digest: str, hb: wire.Heartbeat, now: float) -> wire.HeartbeatReply:
    """Progress onto the running attempt (no workflow lock: one conditional UPDATE), or
    cancel when the server has ended that attempt."""
    caller = tokens.authenticate(conn, digest)
    tokens.seen(conn, caller, now)
    if hb.action_id is None:
        return wire.HeartbeatReply()
    act = _own_action(conn, caller, hb.action_id)
    wf = conn.execute(WORKFLOW_BY_ID, {"wf": act.workflow_id}).one()
    if is_overdue(wf, now):
        wf = expire_if_overdue(conn, lock_workflow(conn, wf.id), now)
    attempt = act.attempt if hb.attempt is None else hb.attempt
    values: dict[str, Any] = {"b_id": act.id, "b_attempt": attempt, "heartbeat_at": now}
    if hb.progress is not None:
        values.update(
            progress_done=hb.progress.done,
            progress_total=hb.progress.total,
            progress_unit=hb.progress.unit[:20],
        )
    if not W(wf.state).ended and conn.execute(PROGRESS, values).rowcount == 1:
        return wire.HeartbeatReply()
    if W(wf.state).ended:
        return wire.HeartbeatReply(cancel=True, message=f"workflow {wf.state}: {wf.message}")
    act = action_row(conn, act.id)
    if attempt != act.attempt or A(act.state).ended:
        return wire.HeartbeatReply(
            cancel=True, message=f"attempt {attempt} of {act.name} is over ({act.message})"
        )
    return wire.HeartbeatReply()  # PENDING: the worker beats before its RUNNING report


def add_log(conn: Connection, digest: str, batch: wire.LogLines) -> wire.LogReply:
    caller = tokens.authenticate(conn, digest)
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
    return wire.LogReply(len(conn.execute(LOG_ADD(conn), rows).all()))
