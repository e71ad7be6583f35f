"""State changes of workflows and actions, each under its workflow's row lock.

Every caller first takes `lock_workflow` (SELECT … FOR UPDATE on PostgreSQL; SQLite's
write transaction already holds the database), then re-reads the action: what it decides
is based on rows nobody else can change until it commits. Lock order is always workflow,
then action, then hardware, then token, so two servers never wait on each other in a ring.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, func, select, update

from agent.provision.wire import ActionState, WorkflowState
from server.errors import NotFound
from server.states import overdue, retries_left, workflow_end
from server.store.dialect import upsert
from server.store.schema import action, hardware, report, workflow

A = ActionState
W = WorkflowState


def lock_workflow(conn: Connection, wf_id: str) -> Row[Any]:
    row = conn.execute(select(workflow).where(workflow.c.id == wf_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"no workflow {wf_id!r}")
    return row


def action_row(conn: Connection, action_id: str) -> Row[Any]:
    row = conn.execute(select(action).where(action.c.id == action_id)).first()
    if row is None:
        raise NotFound(f"no action {action_id!r}")
    return row


def _record(
    conn: Connection,
    act: Row[Any],
    attempt: int,
    state: ActionState,
    message: str,
    seconds: float | None,
    retry: bool,
    by_server: bool,
    now: float,
) -> None:
    conn.execute(
        upsert(conn, report)
        .values(
            action_id=act.id,
            attempt=attempt,
            state=state.value,
            message=message,
            seconds=seconds,
            retry=retry,
            by_server=by_server,
            received_at=now,
        )
        .on_conflict_do_nothing()
    )


def record_only(
    conn: Connection,
    act: Row[Any],
    attempt: int,
    state: ActionState,
    message: str,
    seconds: float | None,
    now: float,
) -> None:
    _record(conn, act, attempt, state, message, seconds, False, False, now)


def _set_workflow(conn: Connection, wf_id: str, **values: Any) -> None:
    conn.execute(update(workflow).where(workflow.c.id == wf_id).values(**values))


def _set_action(conn: Connection, action_id: str, **values: Any) -> None:
    conn.execute(update(action).where(action.c.id == action_id).values(**values))


def apply(
    conn: Connection,
    wf: Row[Any],
    act: Row[Any],
    state: ActionState,
    attempt: int,
    message: str,
    seconds: float | None,
    now: float,
    *,
    by_server: bool = False,
) -> tuple[bool, WorkflowState]:
    """Apply one allowed report; returns (the action comes again, the workflow's state)."""
    wf_state = W(wf.state)
    retry = False
    if wf_state is W.PENDING:
        wf_state = W.RUNNING
        _set_workflow(conn, wf.id, state=W.RUNNING.value, started_at=now)
    if state is A.RUNNING:
        _set_action(
            conn,
            act.id,
            state=A.RUNNING.value,
            started_at=now,
            stopped_at=None,
            seconds=None,
            message=message,
            heartbeat_at=now,
            progress_done=None,
            progress_total=None,
            progress_unit=None,
        )
    elif state is A.SUCCESS:
        _set_action(
            conn,
            act.id,
            state=A.SUCCESS.value,
            started_at=act.started_at or now,
            stopped_at=now,
            seconds=seconds,
            message=message,
        )
        left = conn.execute(
            select(func.count()).where(
                action.c.workflow_id == wf.id, action.c.state != A.SUCCESS.value
            )
        ).scalar_one()
        if left == 0:
            wf_state = W.SUCCESS
            _set_workflow(conn, wf.id, state=W.SUCCESS.value, stopped_at=now, message="")
            if wf.toggle_netboot:
                conn.execute(
                    update(hardware)
                    .where(hardware.c.id == wf.hardware_id)
                    .values(allow_netboot=False)
                )
    elif retries_left(attempt, act.first_attempt, act.retries):
        retry = True
        _set_action(
            conn,
            act.id,
            state=A.PENDING.value,
            attempt=attempt + 1,
            stopped_at=now,
            seconds=seconds,
            message=f"attempt {attempt} {state.value}: {message}",
        )
    else:
        wf_state = workflow_end(state)
        _set_action(
            conn,
            act.id,
            state=state.value,
            started_at=act.started_at or now,
            stopped_at=now,
            seconds=seconds,
            message=message,
        )
        _set_workflow(
            conn,
            wf.id,
            state=wf_state.value,
            stopped_at=now,
            message=f"{act.task}/{act.name} {state.value}: {message}",
        )
    _record(conn, act, attempt, state, message, seconds, retry, by_server, now)
    return retry, wf_state


def ended_by_server(conn: Connection, action_id: str, attempt: int) -> bool:
    row = conn.execute(
        select(report.c.state).where(
            report.c.action_id == action_id,
            report.c.attempt == attempt,
            report.c.by_server.is_(True),
        )
    ).first()
    return row is not None


def expire_if_overdue(conn: Connection, wf: Row[Any], now: float) -> Row[Any]:
    """The locked workflow, timed out first if its global_timeout has passed."""
    if not overdue(W(wf.state), wf.started_at, wf.global_timeout, now):
        return wf
    message = f"global_timeout of {wf.global_timeout} s passed"
    running = conn.execute(
        select(action).where(action.c.workflow_id == wf.id, action.c.state == A.RUNNING.value)
    )
    for act in running:
        _set_action(conn, act.id, state=A.TIMEOUT.value, stopped_at=now, message=message)
        _record(conn, act, act.attempt, A.TIMEOUT, message, None, False, True, now)
    _set_workflow(conn, wf.id, state=W.TIMEOUT.value, stopped_at=now, message=message)
    return lock_workflow(conn, wf.id)


def overdue_ids(conn: Connection, now: float) -> list[str]:
    rows = conn.execute(
        select(workflow.c.id).where(
            workflow.c.state == W.RUNNING.value,
            workflow.c.global_timeout > 0,
            workflow.c.started_at + workflow.c.global_timeout <= now,
        )
    )
    return [str(r.id) for r in rows]


def expire_overdue(conn: Connection, now: float) -> int:
    """Time out every workflow past its global_timeout; returns how many."""
    count = 0
    for wf_id in overdue_ids(conn, now):
        wf = lock_workflow(conn, wf_id)
        if expire_if_overdue(conn, wf, now) is not wf:
            count += 1
    return count
