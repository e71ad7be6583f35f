"""Templates as uploaded: the source text, checked when it is added, rendered per workflow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from server.errors import Conflict, NotFound
from server.store.schema import template, workflow


def save(conn: Connection, name: str, data: str, now: float) -> bool:
    """Add or replace; True when it was new."""
    found = conn.execute(select(template.c.name).where(template.c.name == name).with_for_update())
    if found.first() is None:
        conn.execute(insert(template).values(name=name, data=data, created_at=now, updated_at=now))
        return True
    conn.execute(update(template).where(template.c.name == name).values(data=data, updated_at=now))
    return False


def get(conn: Connection, name: str) -> Row[Any]:
    row = conn.execute(select(template).where(template.c.name == name)).first()
    if row is None:
        raise NotFound(f"no template {name!r} (see metalinit template list)")
    return row


def list_all(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(template).order_by(template.c.name)))


def remove(conn: Connection, name: str) -> None:
    get(conn, name)
    used = conn.execute(
        select(workflow.c.id).where(
            workflow.c.template_name == name, workflow.c.state.in_(("PENDING", "RUNNING"))
        )
    ).first()
    if used is not None:
        raise Conflict(f"template {name!r} is used by workflow {used.id}, which has not ended")
    conn.execute(delete(template).where(template.c.name == name))
