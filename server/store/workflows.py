"""Workflows: created from a plan, found by id or name, shown, retried, and their logs."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection, Row, Select, delete, insert, or_, select, update

from agent.provision.wire import ActionState, WorkflowState
from server.errors import BadRequest, Conflict, NotFound
from server.macs import normal_mac
from server.plan import PlannedWorkflow
from server.store.schema import action, hardware, hardware_mac, log_line, report, workflow
from server.store.transitions import lock_workflow

A = ActionState
W = WorkflowState


def new_id() -> str:
    return "wf-" + secrets.token_hex(6)


def _worker_id(conn: Connection, worker: str) -> int | None:
    as_mac = normal_mac(worker)
    if as_mac is not None:
        row = conn.execute(
            select(hardware_mac.c.hardware_id).where(hardware_mac.c.mac == as_mac)
        ).first()
        if row is not None:
            return int(row.hardware_id)
    row = conn.execute(select(hardware.c.id).where(hardware.c.name == worker)).first()
    return None if row is None else int(row.id)


def create(
    conn: Connection,
    plan: PlannedWorkflow,
    *,
    template_name: str,
    hardware_id: int,
    hardware_map: dict[str, str],
    name: str | None,
    toggle_netboot: bool,
    now: float,
) -> str:
    if name is not None:
        taken = conn.execute(select(workflow.c.id).where(workflow.c.name == name)).first()
        if taken is not None:
            raise Conflict(f"a workflow named {name!r} exists ({taken.id}); delete it first")
    workers: dict[str, int] = {}
    for planned in plan.actions:
        if planned.worker not in workers:
            found = _worker_id(conn, planned.worker)
            if found is None:
                raise BadRequest(
                    f"task {planned.task}: worker {planned.worker!r} is no known "
                    "hardware (add it: metalinit hw add --mac MAC)"
                )
            workers[planned.worker] = found
    wf_id = new_id()
    conn.execute(
        insert(workflow).values(
            id=wf_id,
            name=name,
            template_name=template_name,
            hardware_id=hardware_id,
            hardware_map=hardware_map,
            toggle_netboot=toggle_netboot,
            state=W.PENDING.value,
            global_timeout=plan.global_timeout,
            started_at=None,
            stopped_at=None,
            message="",
            created_at=now,
        )
    )
    conn.execute(
        insert(action),
        [
            {
                "id": f"{wf_id}.{n}",
                "workflow_id": wf_id,
                "position": n,
                "task": a.task,
                "worker": a.worker,
                "hardware_id": workers[a.worker],
                "name": a.name,
                "image": a.image,
                "timeout": a.timeout,
                "retries": a.retries,
                "command": list(a.command),
                "environment": dict(a.environment),
                "volumes": list(a.volumes),
                "pid": a.pid,
                "state": A.PENDING.value,
                "attempt": 1,
                "first_attempt": 1,
                "message": "",
            }
            for n, a in enumerate(plan.actions)
        ],
    )
    return wf_id


def by_name(name: str) -> Select[Any]:
    return select(workflow.c.id).where(workflow.c.name == name)


def find(conn: Connection, key: str) -> Row[Any]:
    row = conn.execute(
        select(workflow).where(or_(workflow.c.id == key, workflow.c.name == key))
    ).first()
    if row is None:
        raise NotFound(f"no workflow with id or name {key!r} (see metalinit workflow list)")
    return row


def list_all(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(workflow).order_by(workflow.c.created_at, workflow.c.id)))


def actions_of(conn: Connection, wf_id: str) -> list[Row[Any]]:
    return list(
        conn.execute(select(action).where(action.c.workflow_id == wf_id).order_by("position"))
    )


def reports_of(conn: Connection, wf_id: str) -> list[Row[Any]]:
    ids = select(action.c.id).where(action.c.workflow_id == wf_id)
    return list(
        conn.execute(
            select(report)
            .where(report.c.action_id.in_(ids))
            .order_by(report.c.received_at, report.c.attempt)
        )
    )


def pick_action(actions: list[Row[Any]], key: str) -> int:
    """Index of the action named `key` (NAME, TASK/NAME or its id)."""
    for n, act in enumerate(actions):
        if key in (act.id, act.name, f"{act.task}/{act.name}"):
            return n
    names = ", ".join(a.name for a in actions)
    raise NotFound(f"no action {key!r} in this workflow (its actions: {names})")


def retry(conn: Connection, key: str, from_action: str | None, now: float) -> str:
    """Run an ended workflow again from its failed action (or `from_action`)."""
    wf = lock_workflow(conn, find(conn, key).id)
    state = W(wf.state)
    if not state.ended:
        raise Conflict(f"workflow {wf.id} is {state.value}; only an ended workflow is retried")
    actions = actions_of(conn, wf.id)
    if from_action is not None:
        start = pick_action(actions, from_action)
    else:
        failed = [n for n, a in enumerate(actions) if a.state != A.SUCCESS.value]
        if not failed:
            raise Conflict(f"workflow {wf.id} succeeded; say which action to run again (--from)")
        start = failed[0]
    for act in actions[start:]:
        ran = (
            act.state != A.PENDING.value
            or conn.execute(
                select(report.c.state).where(
                    report.c.action_id == act.id, report.c.attempt == act.attempt
                )
            ).first()
            is not None
        )
        attempt = act.attempt + 1 if ran else act.attempt
        conn.execute(
            update(action)
            .where(action.c.id == act.id)
            .values(
                state=A.PENDING.value,
                attempt=attempt,
                first_attempt=attempt,
                started_at=None,
                stopped_at=None,
                seconds=None,
                message="",
                progress_done=None,
                progress_total=None,
                progress_unit=None,
                heartbeat_at=None,
            )
        )
    conn.execute(
        update(workflow)
        .where(workflow.c.id == wf.id)
        .values(
            state=W.PENDING.value,
            started_at=None,
            stopped_at=None,
            message=f"retried from {actions[start].name}",
        )
    )
    return str(wf.id)


def remove(conn: Connection, key: str) -> str:
    wf = lock_workflow(conn, find(conn, key).id)
    conn.execute(delete(workflow).where(workflow.c.id == wf.id))
    return str(wf.id)


def log_lines(
    conn: Connection, wf_id: str, action_key: str | None, offset: int, limit: int
) -> list[Row[Any]]:
    actions = actions_of(conn, wf_id)
    chosen = [actions[pick_action(actions, action_key)]] if action_key else actions
    query = (
        select(action.c.name, action.c.task, log_line.c.attempt, log_line.c.n, log_line.c.text)
        .join(action, action.c.id == log_line.c.action_id)
        .where(log_line.c.action_id.in_([a.id for a in chosen]))
        .order_by(action.c.position, log_line.c.attempt, log_line.c.n)
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(query))
