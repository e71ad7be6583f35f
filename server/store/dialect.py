"""The one statement the two engines spell differently: INSERT … ON CONFLICT. Both
dialects' insert constructs take the same arguments, so callers stay engine-blind."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert(conn: Connection, table: Table) -> Any:
    """`INSERT INTO table`, with `.on_conflict_do_nothing()` / `.on_conflict_do_update()`."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
