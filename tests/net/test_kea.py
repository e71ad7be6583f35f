"""The client against a second implementation, ISC Kea, so it is not tuned to dnsmasq."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.net.conftest import needs_root
from tests.net.helpers import addresses, get_lease, routes
from tests.net.topology import KEA, Lan, kea

pytestmark = [
    needs_root,
    pytest.mark.root,
    pytest.mark.skipif(shutil.which(KEA) is None, reason="kea-dhcp4-server is not installed"),
]


def test_plain_lease_from_kea(net: Lan, work: Path) -> None:
    with kea(net.server_ns, work / "k") as server:
        out = get_lease(net, work, "--apply")
        text = server.wait_for("DHCP4_LEASE_ALLOC")
    lease = out["lease"]
    assert lease["address"].startswith("10.77.3.")
    assert lease["server_id"] == "10.77.0.1" and lease["dns"] == ["10.77.0.53"]
    assert addresses(net) == [f"{lease['address']}/16"]
    assert routes(net)["default"] == "10.77.0.1"
    assert lease["address"] in text


def test_twenty_second_lease_renewed_by_kea(net: Lan, work: Path) -> None:
    """Kea grants a 20-second lease (dnsmasq will not go under 2 minutes): T1 is 10 s."""
    with kea(net.server_ns, work / "k", lifetime=20) as server:
        out = get_lease(net, work, "--apply", "--hold", "12")
        text = server.text()
    assert out["lease"]["lease_time"] == 20
    assert "renewed" in out["stderr"]
    assert text.count("DHCP4_LEASE_ALLOC") >= 2, text
