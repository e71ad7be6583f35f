"""Create or upgrade the schema at start, under a lock so that two servers starting on one
PostgreSQL at once do it once. `UPGRADES[n]` takes a version-n database to n+1."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, func, insert, select, text, update

from server.errors import ServerError
from server.store.schema import SCHEMA_VERSION, metadata, schema_version

_PG_LOCK_KEY = 0x6D6574616C  # "metal": one advisory lock id for schema changes

UPGRADES: dict[int, Callable[[Connection], None]] = {}


class SchemaError(ServerError):
    status = 500


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
