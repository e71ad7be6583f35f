"""The one statement the two engines spell differently: INSERT … ON CONFLICT. Both
dialects' insert constructs take the same arguments, so callers stay engine-blind.
`Prebuilt` keeps one such statement per dialect, built once: constructing a statement
costs several times what executing a prebuilt one does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert(conn: Connection, table: Table) -> Any:
    """`INSERT INTO table`, with `.on_conflict_do_nothing()` / `.on_conflict_do_update()`."""
    return insert_for(conn.dialect.name, table)


def insert_for(dialect: str, table: Table) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


class Prebuilt:
    """One statement built ahead for each dialect by `build(insert)`."""

    def __init__(self, table: Table, build: Callable[[Any], Any]) -> None:
        self.made = {name: build(insert_for(name, table)) for name in ("sqlite", "postgresql")}

    def __call__(self, conn: Connection) -> Any:
        return self.made[conn.dialect.name]
