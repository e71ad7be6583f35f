"""State changes of workflows and actions, each under its workflow's row lock.

Every caller first takes `lock_workflow` (SELECT … FOR UPDATE on PostgreSQL; SQLite's
write transaction already holds the database), then re-reads the action: what it decides
is based on rows nobody else can change until it commits. Lock order is always workflow,
then action, then hardware, then token, so two servers never wait on each other in a ring.

The statements of these hot paths are built once, here: an UPDATE without `.values()`
takes its SET columns from the parameters it is executed with.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select, update

from agent.provision.wire import ActionState, WorkflowState
from server.errors import NotFound
from server.states import overdue, retries_left, workflow_end
from server.store.dialect import Prebuilt
from server.store.hardware import disallow_netboot
from server.store.schema import action, report, workflow

A = ActionState
W = WorkflowState

WORKFLOW_LOCK = select(workflow).where(workflow.c.id == bindparam("wf")).with_for_update()
WORKFLOW_SET = update(workflow).where(workflow.c.id == bindparam("b_id"))
ACTION_BY_ID = select(action).where(action.c.id == bindparam("action"))
ACTION_SET = update(action).where(action.c.id == bindparam("b_id"))
LEFT_TO_DO = select(func.count()).where(
    action.c.workflow_id == bindparam("wf"), action.c.state != A.SUCCESS.value
)
RUNNING_IN = select(action).where(
    action.c.workflow_id == bindparam("wf"), action.c.state == A.RUNNING.value
)
REPORT_STORED = select(report.c.retry).where(
    report.c.action_id == bindparam("action"),
    report.c.attempt == bindparam("attempt"),
    report.c.state == bindparam("state"),
)
ENDED_BY_SERVER = select(report.c.state).where(
    report.c.action_id == bindparam("action"),
    report.c.attempt == bindparam("attempt"),
    report.c.by_server.is_(True),
)
REPORT_ADD = Prebuilt(report, lambda insert: insert.on_conflict_do_nothing())
OVERDUE = select(workflow.c.id).where(
    workflow.c.state == W.RUNNING.value,
    workflow.c.global_timeout > 0,
    workflow.c.started_at + workflow.c.global_timeout <= bindparam("now"),
)


def lock_workflow(conn: Connection, wf_id: str) -> Row[Any]:
    row = conn.execute(WORKFLOW_LOCK, {"wf": wf_id}).first()
    if row is None:
        raise NotFound(f"no workflow {wf_id!r}")
    return row


def action_row(conn: Connection, action_id: str) -> Row[Any]:
    row = conn.execute(ACTION_BY_ID, {"action": action_id}).first()
    if row is None:
        raise NotFound(f"no action {action_id!r}")
    return row


def stored_report(
    conn: Connection, action_id: str, attempt: int, state: ActionState
) -> Row[Any] | None:
    """The report of that identity, if it is stored already."""
    params = {"action": action_id, "attempt": attempt, "state": state.value}
    return conn.execute(REPORT_STORED, params).first()


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
        REPORT_ADD(conn),
        {
            "action_id": act.id,
            "attempt": attempt,
            "state": state.value,
            "message": message,
            "seconds": seconds,
            "retry": retry,
            "by_server": by_server,
            "received_at": now,
        },
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


def set_workflow(conn: Connection, wf_id: str, **values: Any) -> None:
    conn.execute(WORKFLOW_SET, {"b_id": wf_id, **values})


def set_action(conn: Connection, action_id: str, **values: Any) -> None:
    conn.execute(ACTION_SET, {"b_id": action_id, **values})


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
        set_workflow(conn, wf.id, state=W.RUNNING.value, started_at=now)
    if state is A.RUNNING:
        set_action(
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
        set_action(
            conn,
            act.id,
            state=A.SUCCESS.value,
            started_at=act.started_at or now,
            stopped_at=now,
            seconds=seconds,
            message=message,
        )
        if conn.execute(LEFT_TO_DO, {"wf": wf.id}).scalar_one() == 0:
            wf_state = W.SUCCESS
            set_workflow(conn, wf.id, state=W.SUCCESS.value, stopped_at=now, message="")
            if wf.toggle_netboot:
                disallow_netboot(conn, wf.hardware_id)
    elif retries_left(attempt, act.first_attempt, act.retries):
        retry = True
        set_action(
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
        set_action(
            conn,
            act.id,
            state=state.value,
            started_at=act.started_at or now,
            stopped_at=now,
            seconds=seconds,
            message=message,
        )
        set_workflow(
            conn,
            wf.id,
            state=wf_state.value,
            stopped_at=now,
            message=f"{act.task}/{act.name} {state.value}: {message}",
        )
    _record(conn, act, attempt, state, message, seconds, retry, by_server, now)
    return retry, wf_state


def ended_by_server(conn: Connection, action_id: str, attempt: int) -> bool:
    params = {"action": action_id, "attempt": attempt}
    return conn.execute(ENDED_BY_SERVER, params).first() is not None


def is_overdue(wf: Row[Any], now: float) -> bool:
    return overdue(W(wf.state), wf.started_at, wf.global_timeout, now)


def expire_if_overdue(conn: Connection, wf: Row[Any], now: float) -> Row[Any]:
    """The locked workflow, timed out first if its global_timeout has passed."""
    if not is_overdue(wf, now):
        return wf
    message = f"global_timeout of {wf.global_timeout} s passed"
    for act in conn.execute(RUNNING_IN, {"wf": wf.id}).all():
        set_action(conn, act.id, state=A.TIMEOUT.value, stopped_at=now, message=message)
        _record(conn, act, act.attempt, A.TIMEOUT, message, None, False, True, now)
    set_workflow(conn, wf.id, state=W.TIMEOUT.value, stopped_at=now, message=message)
    return lock_workflow(conn, wf.id)


def expire_overdue(conn: Connection, now: float) -> int:
    """Time out every workflow past its global_timeout; returns how many."""
    count = 0
    for row in conn.execute(OVERDUE, {"now": now}).all():
        wf = lock_workflow(conn, row.id)
        if expire_if_overdue(conn, wf, now) is not wf:
            count += 1
    return count
