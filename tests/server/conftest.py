"""Fixtures: a real `metalinit serve` per test module, on SQLite and on a private
PostgreSQL (the same tests run against both), and a Fleet of helpers over it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.server import postgres
from tests.server.fleet import Fleet
from tests.server.serving import Served, serving

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def pg() -> Iterator[postgres.Postgres]:
    why = postgres.available()
    if why:
        pytest.skip(why)
    cluster = postgres.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _db(request: pytest.FixtureRequest, backend: str) -> str | None:
    if backend == "sqlite":
        return None
    cluster: postgres.Postgres = request.getfixturevalue("pg")
    return cluster.create_database(f"metalinit_{next(_databases)}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One server for the module, on each backend in turn."""
    tmp = tmp_path_factory.mktemp(f"serve-{request.param}")
    with serving(tmp, db=_db(request, request.param), extra=["--poll", "0.2"]) as srv:
        yield srv


@pytest.fixture(scope="module")
def sqlite_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("serve"), extra=["--poll", "0.2"]) as srv:
        yield srv


@pytest.fixture
def fleet(served: Served) -> Fleet:
    return Fleet(served)
