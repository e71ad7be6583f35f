"""Token hashes in the database: one machine token per hardware (the latest boot's), and
any number of admin tokens (one per `serve` data directory that registered its file).
A machine call resolves its token inside its own transaction (`authenticate`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from server.errors import BadToken, Forbidden
from server.store.dialect import upsert
from server.store.schema import admin_token, hardware, machine_token
from server.tokens import new_machine_token, token_hash

SEEN_EVERY = 5.0  # seconds: a token's last-seen time is written at most this often

CALLER = (
    select(machine_token.c.hardware_id, machine_token.c.seen_at, hardware.c.name)
    .join(hardware, hardware.c.id == machine_token.c.hardware_id)
    .where(machine_token.c.hash == bindparam("digest"))
)
ADMIN = select(admin_token.c.hash).where(admin_token.c.hash == bindparam("digest"))
SEEN = update(machine_token).where(machine_token.c.hash == bindparam("digest"))


@dataclass(frozen=True)
class Machine:
    """Who a machine token says is calling."""

    hardware_id: int
    hardware: str
    token_hash: str
    seen_at: float = 0.0


def issue_machine_token(conn: Connection, hw_id: int, now: float) -> str:
    """A new per-boot token; the previous boot's token stops working."""
    token = new_machine_token()
    conn.execute(delete(machine_token).where(machine_token.c.hardware_id == hw_id))
    conn.execute(
        insert(machine_token).values(
            hash=token_hash(token), hardware_id=hw_id, issued_at=now, seen_at=now
        )
    )
    return token


def machine(conn: Connection, digest: str) -> Machine | None:
    row = conn.execute(CALLER, {"digest": digest}).first()
    if row is None:
        return None
    return Machine(int(row.hardware_id), str(row.name), digest, float(row.seen_at))


def authenticate(conn: Connection, digest: str) -> Machine:
    """The machine whose token has this hash; else 401 (or 403 for an admin token)."""
    caller = machine(conn, digest)
    if caller is not None:
        return caller
    if is_admin(conn, digest):
        raise Forbidden("an admin token cannot make machine calls; machines use their own")
    raise BadToken("the token is not valid (did the machine look up again since?): look up again")


def seen(conn: Connection, caller: Machine, now: float) -> None:
    if now - caller.seen_at >= SEEN_EVERY:
        conn.execute(SEEN, {"digest": caller.token_hash, "seen_at": now})


def last_seen(conn: Connection, hw_id: int) -> float | None:
    row = conn.execute(
        select(machine_token.c.seen_at).where(machine_token.c.hardware_id == hw_id)
    ).first()
    return None if row is None else float(row.seen_at)


def is_admin(conn: Connection, digest: str) -> bool:
    return conn.execute(ADMIN, {"digest": digest}).first() is not None


def register_admin(conn: Connection, digest: str, now: float) -> None:
    conn.execute(
        upsert(conn, admin_token).values(hash=digest, created_at=now).on_conflict_do_nothing()
    )
