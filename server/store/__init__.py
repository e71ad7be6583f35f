"""The database: one SQLAlchemy Core code path over SQLite (default) and PostgreSQL.

Every change runs in one transaction through `Store.write(fn)`, which retries the whole
function when PostgreSQL reports a deadlock or a serialisation failure, so several
`metalinit serve` processes sharing one database never lose or double a change. On SQLite
a write transaction starts with `BEGIN IMMEDIATE` (the writer's lock is taken up front,
so two writers never deadlock on a lock upgrade); WAL lets readers go on meanwhile, and
`synchronous=FULL` makes every acknowledged commit survive the server being killed.
On PostgreSQL, state changes lock the workflow row (`SELECT … FOR UPDATE`) first, and a
connection the database dropped (a restart) is replaced and the transaction run again,
rather than paying a ping before every transaction.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from server.errors import Busy, ServerError
from server.store.migrate import migrate

T = TypeVar("T")

RETRIES = 8
_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected
SQLITE_BUSY_SECONDS = 30


class StoreError(ServerError):
    """The database URL or the database itself is not usable; says which and why."""

    status = 500


def engine_url(url: str) -> str:
    """`postgresql://…` means psycopg 3; a bare path means a SQLite file."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:
        return "sqlite:///" + url
    return url


class Store:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        sa_url = engine_url(url)
        try:
            backend = make_url(sa_url).get_backend_name()
        except Exception as err:
            raise StoreError(f"--db {url!r}: not a database URL ({err})") from None
        if backend not in ("sqlite", "postgresql"):
            raise StoreError(f"--db {url!r}: only sqlite:///FILE and postgresql://… are supported")
        self.backend = backend
        self.engine = (
            _sqlite_engine(sa_url) if backend == "sqlite" else _pg_engine(sa_url, pool_size)
        )
        # SQLite has one writer at a time. Threads of this process that want to write
        # queue here instead of in SQLite's busy handler, which sleeps in steps of up to
        # 100 ms (a tail latency of its own). Correctness does not rest on this lock:
        # SQLite's own lock still orders writers, across processes too.
        self._writers: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if backend == "sqlite" else contextlib.nullcontext()
        )
        migrate(self.engine)

    def write(self, fn: Callable[[Connection], T], *, durable: bool = True) -> T:
        """Run `fn` in one write transaction, again from the start on a deadlock.
        `durable=False` (heartbeats: progress and last-seen times) lets SQLite skip the
        fsync at commit: such a change survives the server being killed, not a power cut,
        until the next durable commit syncs it with its own."""
        options = {"metalinit_write": True, "metalinit_durable": durable}
        for attempt in range(RETRIES):
            try:
                with (
                    self._writers,
                    self.engine.connect().execution_options(**options) as conn,
                    conn.begin(),
                ):
                    return fn(conn)
            except DBAPIError as err:
                if (_deadlock(err) or err.connection_invalidated) and attempt < RETRIES - 1:
                    time.sleep(0.005 * (attempt + 1))
                    continue
                if _deadlock(err) or "database is locked" in str(err.orig):
                    raise Busy("the database is busy; try again", retry_after=1.0) from err
                raise
        raise AssertionError("unreachable")

    def read(self, fn: Callable[[Connection], T]) -> T:
        for attempt in range(RETRIES):
            try:
                with self.engine.connect() as conn, conn.begin():
                    return fn(conn)
            except DBAPIError as err:  # a connection the database dropped: use a new one
                if not err.connection_invalidated or attempt == RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.engine.dispose()


def _deadlock(err: DBAPIError) -> bool:
    return getattr(err.orig, "sqlstate", None) in _RETRY_SQLSTATES


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False},
        pool_size=20,
        max_overflow=20,
        hide_parameters=True,  # an error message must not carry an action's environment
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("metalinit_write", False):
            level = "FULL" if options.get("metalinit_durable", True) else "NORMAL"
            info = conn.connection.info
            if info.get("synchronous") != level:
                conn.exec_driver_sql(f"PRAGMA synchronous={level}")
                info["synchronous"] = level
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _pg_engine(url: str, pool_size: int) -> Engine:
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        hide_parameters=True,
    )
