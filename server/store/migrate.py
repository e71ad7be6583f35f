"""Create or upgrade the schema at start, under a lock so that two servers starting on one
PostgreSQL at once do it once. `UPGRADES[n]` takes a version-n database to n+1, inside the
same transaction as the version bump (both engines have transactional DDL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text, update

from server.errors import ServerError
from server.store.schema import SCHEMA_VERSION, hardware, metadata, schema_version

_PG_LOCK_KEY = 0x6D6574616C  # "metal": one advisory lock id for schema changes


class SchemaError(ServerError):
    status = 500


def _v1_to_v2(conn: Connection) -> None:
    """Version 1 kept disks, interfaces, metadata and user_data in columns of their own;
    version 2 keeps the whole Tinkerbell HardwareSpec in `spec`, so nothing a Hardware
    object carried is lost, and free-form `labels`. The spec is made from the four
    columns, which then go."""
    conn.execute(text("ALTER TABLE hardware ADD COLUMN spec JSON"))
    conn.execute(text("ALTER TABLE hardware ADD COLUMN labels JSON"))
    old = text("SELECT id, disks, interfaces, metadata, user_data FROM hardware")
    for row in conn.execute(old).all():
        spec: dict[str, Any] = {"interfaces": _json(conn, row.interfaces)}
        disks = _json(conn, row.disks)
        if disks:
            spec["disks"] = [{"device": d} for d in disks]
        if _json(conn, row.metadata):
            spec["metadata"] = _json(conn, row.metadata)
        if row.user_data:
            spec["userData"] = row.user_data
        conn.execute(update(hardware).where(hardware.c.id == row.id).values(spec=spec, labels={}))
    for column in ("disks", "interfaces", "metadata", "user_data"):
        conn.execute(text(f"ALTER TABLE hardware DROP COLUMN {column}"))
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE hardware ALTER COLUMN spec SET NOT NULL"))
        conn.execute(text("ALTER TABLE hardware ALTER COLUMN labels SET NOT NULL"))


def _json(conn: Connection, value: Any) -> Any:
    """A JSON column read through plain SQL: text on SQLite, already decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


UPGRADES: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2}


def migrate(engine: Engine) -> int:
    """Bring the database to SCHEMA_VERSION; returns the version it had (0: new)."""
    with engine.connect().execution_options(metalinit_write=True) as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        schema_version.create(conn, checkfirst=True)
        found = conn.execute(select(func.max(schema_version.c.version))).scalar()
        if found is None:
            metadata.create_all(conn, checkfirst=True)
            conn.execute(insert(schema_version).values(version=SCHEMA_VERSION))
            return 0
        if found > SCHEMA_VERSION:
            raise SchemaError(
                f"the database has schema version {found}, newer than this server's "
                f"{SCHEMA_VERSION}: run a newer metalinit against it"
            )
        for version in range(found, SCHEMA_VERSION):
            UPGRADES[version](conn)
        conn.execute(update(schema_version).values(version=SCHEMA_VERSION))
        return int(found)
