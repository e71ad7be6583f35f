"""Fixtures for the network tests: a namespace LAN per test, torn down even on failure."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.net.topology import Lan, lan

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="network namespaces need root and iproute2",
)


@pytest.fixture
def net(request: pytest.FixtureRequest) -> Iterator[Lan]:
    """Server namespace (bridge br0, 10.77.0.1/16) and client namespace with link eth0."""
    tag = f"{os.getpid() % 10000}{abs(hash(request.node.nodeid)) % 1000}"
    with lan(tag) as network:
        network.add_client_link("eth0")
        yield network


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path
