"""Schemathesis over the server's OpenAPI spec: for generated input to every operation,
no 5xx, and every response (status, content type, headers, body) matches the spec.
Machine operations are called with a machine token, the rest with the admin token, so
the generated bodies reach the handlers. Examples are bounded per operation.

One check is left out: `positive_data_acceptance` holds that any schema-valid request
is accepted, which no API with rules beyond JSON Schema keeps (a MAC must be a MAC, a
template must parse, a workflow's workers must exist); those answers are 4xx with a
Problem body, and the other checks hold them to the spec.

The spec is built at collection time from the app itself (schemathesis' lazy fixture
loader does not work with this pytest); a test checks it is what /openapi.json serves."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks

from agent.provision import wire
from server.api.app import AppConfig, create_app
from server.store import Store
from tests.server.fleet import Fleet
from tests.server.serving import Served

EXAMPLES = 30


def _spec() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/spec.db")
        spec: dict[str, Any] = create_app(store, AppConfig(artifacts=Path(tmp))).openapi()
        store.close()
    return spec


SPEC = _spec()
schema = schemathesis.openapi.from_dict(SPEC)


def test_the_spec_is_what_the_server_serves(sqlite_served: Served) -> None:
    assert requests.get(sqlite_served.url + "/openapi.json", timeout=10).json() == SPEC


@pytest.fixture(scope="module")
def machine_token(sqlite_served: Served) -> str:
    _, mac = Fleet(sqlite_served).machine()
    return sqlite_served.machine().lookup([mac]).token


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_the_api_keeps_to_its_spec(case: Any, sqlite_served: Served, machine_token: str) -> None:
    token = machine_token if case.path.startswith(wire.PREFIX) else sqlite_served.token
    case.call_and_validate(
        base_url=sqlite_served.url,
        headers={"Authorization": f"Bearer {token}"},
        excluded_checks=[checks.positive_data_acceptance],
    )
