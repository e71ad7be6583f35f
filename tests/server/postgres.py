"""A private PostgreSQL for tests: Debian's postgresql-15 binaries, `initdb` and `pg_ctl`
run as the unprivileged `postgres` user on a data directory it owns in a temporary
directory, listening only on a unix socket there (no TCP port at all)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "postgres"
PORT = 5432  # names the socket file only: with listen_addresses='' there is no TCP


def available() -> str | None:
    """None if a private PostgreSQL can run here, else why not."""
    if not (BIN / "initdb").exists():
        return "PostgreSQL 15 is not installed (Debian package postgresql-15)"
    if os.geteuid() != 0:
        return "starting PostgreSQL as its own user needs root"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"no {USER!r} user (the postgresql package creates it)"
    return None


def _as_postgres(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    user = pwd.getpwnam(USER)
    return subprocess.run(
        [str(a) for a in argv],
        user=user.pw_uid,
        group=user.pw_gid,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd="/",
    )


@dataclass
class Postgres:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@/{database}?host={self.socket_dir}&port={PORT}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(
            host=str(self.socket_dir), port=PORT, user=USER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart(self) -> None:
        done = _as_postgres(
            BIN / "pg_ctl", "-D", self.data, "-l", self.root / "log", "-m", "fast", "-w", "restart"
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl restart failed: {done.stderr}")

    def stop(self) -> None:
        _as_postgres(BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> Postgres:
    root = Path(tempfile.mkdtemp(prefix="metalinit-pg-"))
    user = pwd.getpwnam(USER)
    os.chown(root, user.pw_uid, user.pw_gid)
    pg = Postgres(root)
    done = _as_postgres(
        BIN / "initdb", "-D", pg.data, "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"
    )
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {done.stderr}")
    options = (
        f"-c listen_addresses='' -k {root} -p {PORT} -c fsync=on "
        "-c max_connections=300 -c shared_buffers=64MB"
    )
    done = _as_postgres(
        BIN / "pg_ctl", "-D", pg.data, "-o", options, "-l", root / "log", "-w", "-t", "60", "start"
    )
    if done.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {done.stderr}\n{log}")
    return pg
