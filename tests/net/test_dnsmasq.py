"""The client against a real dnsmasq, in namespaces joined by a bridge (all cases of the issue)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.net.conftest import needs_root
from tests.net.helpers import (
    LEASE_LINE,
    addresses,
    dhcp_lines,
    get_lease,
    mtu,
    popen_client,
    routes,
    wait_gone,
)
from tests.net.topology import Lan, dnsmasq, sh

pytestmark = [needs_root, pytest.mark.root]
FAST = "--no-ping"  # dnsmasq's ICMP check of a new address costs 3 s per first lease


def test_plain_lease_applied(net: Lan, work: Path) -> None:
    with dnsmasq(net.server_ns, work / "d", FAST):
        out = get_lease(net, work, "eth0", "--apply")
    lease = out["lease"]
    assert lease["address"].startswith("10.77.1.")
    assert lease["server_id"] == "10.77.0.1" and lease["lease_time"] == 3600
    assert addresses(net) == [f"{lease['address']}/16"]
    assert routes(net)["default"] == "10.77.0.1"
    saved = json.loads((work / "run" / "lease.json").read_text())
    assert saved["address"] == lease["address"]
    line = LEASE_LINE.search(out["stderr"])
    assert line and line.group(1) == "eth0" and line.group(5) == "10.77.0.1"
    assert "network eth0: " in out["stderr"]


def test_without_apply_nothing_changes(net: Lan, work: Path) -> None:
    sh(*net.client("ip", "link", "set", "eth0", "up"))
    with dnsmasq(net.server_ns, work / "d", FAST):
        out = get_lease(net, work, "eth0")
    assert out["lease"]["address"].startswith("10.77.1.")
    assert addresses(net) == []
    assert not (work / "run" / "lease.json").exists()


@pytest.mark.parametrize("classless", [False, True])
def test_router_versus_classless_routes(net: Lan, work: Path, classless: bool) -> None:
    opts = ["--dhcp-option=option:router,10.77.0.1"]
    if classless:
        opts.append(
            "--dhcp-option=option:classless-static-route,"
            "0.0.0.0/0,10.77.0.254,192.168.50.0/24,10.77.0.2,10.200.0.0/16,0.0.0.0,"
            "172.16.0.0/12,10.99.0.1"  # a router outside the subnet: installed on-link
        )
    with dnsmasq(net.server_ns, work / "d", FAST, *opts):
        get_lease(net, work, "--apply")
    table = routes(net)
    if classless:
        assert table["default"] == "10.77.0.254"  # 121 wins over 3
        assert table["192.168.50.0/24"] == "10.77.0.2"
        assert table["10.200.0.0/16"] == "link"
        assert table["172.16.0.0/12"] == "10.99.0.1"
    else:
        assert table["default"] == "10.77.0.1"
        assert "192.168.50.0/24" not in table


def test_dns_and_search_list(net: Lan, work: Path) -> None:
    with dnsmasq(
        net.server_ns,
        work / "d",
        FAST,
        "--dhcp-option=option:dns-server,10.77.0.53,10.77.0.54",
        "--dhcp-option=option:domain-search,a.example,b.example",
        "--dhcp-option=option:domain-name,lab.example",
    ):
        out = get_lease(net, work, "--apply")
    assert out["lease"]["search"] == ["a.example", "b.example"]
    text = (work / "root" / "etc" / "resolv.conf").read_text().splitlines()
    assert text[1:] == [
        "search a.example b.example",
        "nameserver 10.77.0.53",
        "nameserver 10.77.0.54",
    ]


def test_mtu(net: Lan, work: Path) -> None:
    assert mtu(net) == 1500
    with dnsmasq(net.server_ns, work / "d", FAST, "--dhcp-option=option:mtu,1400"):
        out = get_lease(net, work, "--apply")
    assert out["lease"]["mtu"] == 1400
    assert mtu(net) == 1400


def test_nak_then_success(net: Lan, work: Path) -> None:
    with dnsmasq(net.server_ns, work / "d", FAST, "--dhcp-authoritative") as server:
        out = get_lease(net, work, "--request", "10.99.0.5", "--apply")
        log = server.text()
    assert dhcp_lines(log, "DHCPNAK"), log
    assert "said NAK; starting over" in out["stderr"]
    assert out["lease"]["address"].startswith("10.77.1.")


@pytest.mark.parametrize("slow", ["first", "second"])
def test_two_servers_first_offer_wins(net: Lan, work: Path, slow: str) -> None:
    other = net.add_server_ns("10.77.0.2")
    delay = "--dhcp-reply-delay=2"
    first = [FAST, delay] if slow == "first" else [FAST]
    second = [FAST, delay] if slow == "second" else [FAST]
    with (
        dnsmasq(net.server_ns, work / "d1", *first),
        dnsmasq(
            other,
            work / "d2",
            *second,
            iface="lan0",
            range_="10.77.2.10,10.77.2.200,255.255.0.0,1h",
        ),
    ):
        out = get_lease(net, work, "--apply")
    winner = "10.77.0.2" if slow == "first" else "10.77.0.1"
    assert out["lease"]["server_id"] == winner
    assert out["seconds"] < 2.0


def test_all_links_at_once(net: Lan, work: Path) -> None:
    """A dead link sorted first does not delay the lease on the live one."""
    net.add_client_link("aaa0", bridged=False)
    with dnsmasq(net.server_ns, work / "d", FAST):
        out = get_lease(net, work, "--apply")
    assert out["lease"]["interface"] == "eth0"
    assert out["seconds"] < 2.0


def test_server_that_appears_late(net: Lan, work: Path) -> None:
    client = popen_client(net, work, "--timeout", "20", "--apply")
    try:
        time.sleep(1.5)
        with dnsmasq(net.server_ns, work / "d", FAST):
            stdout, stderr = client.communicate(timeout=30)
    finally:
        client.kill()
    assert client.returncode == 0, stderr
    out = json.loads(stdout)
    assert 1.5 < out["seconds"] < 10  # the first retransmission (4 s ± 1) got through


def test_no_server_times_out_bounded(net: Lan, work: Path) -> None:
    started = time.monotonic()
    result = net.run_client("--timeout", "3", "--apply", "--run", str(work / "run"))
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "no DHCP server answered on eth0" in result.stderr
    assert 3 <= elapsed < 6


def test_renewal_seen_by_the_server(net: Lan, work: Path) -> None:
    # dnsmasq gives no lease under 2 minutes; T1 and T2 bring renewal within the test.
    with dnsmasq(
        net.server_ns, work / "d", FAST, "--dhcp-option=option:T1,3", "--dhcp-option=option:T2,6"
    ) as server:
        out = get_lease(net, work, "--apply", "--hold", "8")
        log = server.text()
    mac = out["lease"]["mac"]
    assert len([line for line in dhcp_lines(log, "DHCPDISCOVER") if mac in line]) == 1
    acks = [line for line in dhcp_lines(log, "DHCPACK") if mac in line]
    assert len(acks) >= 3, log  # the first lease, a renewal at 3 s, another at 6 s
    assert "renewed" in out["stderr"]
    assert addresses(net) == [f"{out['lease']['address']}/16"]


def test_release_seen_by_the_server(net: Lan, work: Path) -> None:
    with dnsmasq(net.server_ns, work / "d", FAST) as server:
        out = get_lease(net, work, "--apply")
        address = out["lease"]["address"]
        result = net.run_client("--release", "--run", str(work / "run"))
        assert result.returncode == 0, result.stderr
        text = server.wait_for("DHCPRELEASE(br0) " + address)
    assert dhcp_lines(text, "DHCPRELEASE")
    assert wait_gone(net, address)
    assert not (work / "run" / "lease.json").exists()


def test_address_in_use_is_declined(net: Lan, work: Path) -> None:
    with dnsmasq(net.server_ns, work / "d", FAST) as server:
        first = get_lease(net, work, "--apply")["lease"]["address"]
        assert net.run_client("--release", "--run", str(work / "run")).returncode == 0
        # Another host now holds that address: dnsmasq offers it again (same MAC), the
        # probe finds the owner, the client declines and takes another address.
        net.add_server_ns(first)
        out = get_lease(net, work, "--apply", "--arp-wait", "0.5")
        log = server.wait_for("DHCPDECLINE(br0) " + first)
    assert out["lease"]["address"] != first
    assert f"{first} is in use by" in out["stderr"]
    assert dhcp_lines(log, "DHCPDECLINE")


def test_rebind_when_the_server_is_gone(net: Lan, work: Path) -> None:
    """RENEW goes unanswered (the server left); at T2 the broadcast REBIND finds another."""
    other = net.add_server_ns("10.77.0.2")
    timing = ["--dhcp-option=option:T1,2", "--dhcp-option=option:T2,5"]
    client = popen_client(net, work, "--timeout", "10", "--apply", "--hold", "9")
    try:
        assert client.stdout is not None
        with dnsmasq(net.server_ns, work / "d1", FAST, *timing):
            first = json.loads(_read_json(client.stdout))["lease"]
        with dnsmasq(
            other,
            work / "d2",
            FAST,
            "--dhcp-authoritative",
            *timing,
            iface="lan0",
            range_="10.77.1.10,10.77.1.200,255.255.0.0,1h",
        ) as second:
            _, stderr = client.communicate(timeout=30)
            log = second.text()
    finally:
        client.kill()
        client.wait()
    assert client.returncode == 0, stderr
    assert "no answer to RENEW by T2; rebinding" in stderr
    assert "renewed" in stderr
    acks = [line for line in dhcp_lines(log, "DHCPACK") if first["mac"] in line]
    assert acks and first["address"] in acks[0]  # the new server took over the same lease
    assert not dhcp_lines(log, "DHCPDISCOVER")


def _read_json(stream: Any) -> str:
    """One JSON document from the client's stdout, read as it is printed."""
    text = ""
    for line in stream:
        text += line
        if line.startswith("}"):
            return text
    raise AssertionError(f"client printed no lease: {text!r}")
