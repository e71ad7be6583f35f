"""The boot stage and static ip=: unit tables, then the stage run for real in a namespace."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from agent.cmdline import CmdlineError, IpMode, parse
from agent.net.links import Link
from agent.net.static import StaticError, static_lease
from tests.net.conftest import needs_root
from tests.net.helpers import addresses, dhcp_lines, routes
from tests.net.topology import PYTHON, REPO, Lan, dnsmasq

LINK = Link(2, "eth0", "02:00:00:00:00:01")


@pytest.mark.parametrize(
    ("value", "cidr", "gateway", "dns", "hostname"),
    [
        ("10.1.2.3::10.1.2.1:255.255.255.0:node:eth0:off", "10.1.2.3/24", "10.1.2.1", [], "node"),
        (
            "10.1.2.3::10.1.0.1:255.255.0.0::eth0:off:9.9.9.9:1.1.1.1",
            "10.1.2.3/16",
            "10.1.0.1",
            ["9.9.9.9", "1.1.1.1"],
            None,
        ),
        ("192.168.7.9:::::eth0:none", "192.168.7.9/24", None, [], None),  # classful mask
    ],
)
def test_static_lease(
    value: str, cidr: str, gateway: str | None, dns: list[str], hostname: str | None
) -> None:
    config = parse(f"ip={value}").ip
    assert config is not None and config.mode is IpMode.STATIC
    lease = static_lease(config, LINK)
    assert str(lease.interface_address) == cidr
    assert lease.gateway == (IPv4Address(gateway) if gateway else None)
    assert [str(a) for a in lease.dns] == dns
    assert lease.hostname == hostname
    assert lease.source == "static" and lease.interface == "eth0"


def test_static_gateway_off_subnet_is_refused() -> None:
    config = parse("ip=10.1.2.3::10.9.9.1:255.255.255.0::eth0:off").ip
    assert config is not None
    with pytest.raises(StaticError, match=r"outside 10\.1\.2\.0/24"):
        static_lease(config, LINK)


def run_stage(net: Lan, work: Path, cmdline: str, *extra: str) -> tuple[dict[str, Any], str]:
    argv = net.client(str(PYTHON), "-m", "tests.net.run_stage", cmdline, str(work), *extra)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.stdout, result.stderr
    return json.loads(result.stdout), result.stderr


@needs_root
def test_no_ip_no_provision_does_nothing(net: Lan, work: Path) -> None:
    out, log = run_stage(net, work, "root=/dev/vda")
    assert out["lease"] is None and log == ""
    assert not (work / "initramfs").exists()


@needs_root
def test_ip_off(net: Lan, work: Path) -> None:
    out, log = run_stage(net, work, "ip=off")
    assert out["lease"] is None and "ip=off" in log
    assert addresses(net) == []


@needs_root
def test_static_in_namespace(net: Lan, work: Path) -> None:
    cmdline = "ip=10.77.5.5::10.77.0.1:255.255.0.0:web1:eth0:off:10.77.0.53"
    out, log = run_stage(net, work, cmdline)
    assert out["lease"]["source"] == "static"
    assert addresses(net) == ["10.77.5.5/16"]
    assert routes(net)["default"] == "10.77.0.1"
    carried = work / "newroot" / "etc"
    assert "nameserver 10.77.0.53" in (carried / "resolv.conf").read_text()
    assert (carried / "hostname").read_text() == "web1\n"
    assert "10.77.5.5\tweb1" in (carried / "hosts").read_text()
    assert "static eth0 10.77.5.5/16 router 10.77.0.1" in log
    ping = subprocess.run(
        net.client("busybox", "ping", "-c1", "-W2", "10.77.0.1"), capture_output=True
    )
    assert ping.returncode == 0  # the address really works on the LAN


@needs_root
def test_dhcp_stage_carries_files_and_releases(net: Lan, work: Path) -> None:
    with dnsmasq(
        net.server_ns, work / "d", "--no-ping", "--dhcp-option=option:dns-server,10.77.0.53"
    ) as server:
        out, log = run_stage(net, work, "ip=dhcp metalinit.iface=eth0", "--release")
        text = server.wait_for("DHCPRELEASE(br0)")
    lease = out["lease"]
    assert lease["source"] == "dhcp" and out["after_release"] is None
    assert "nameserver 10.77.0.53" in (work / "newroot/etc/resolv.conf").read_text()
    assert json.loads((work / "run/lease.json").read_text())["address"] == lease["address"]
    assert dhcp_lines(text, "DHCPACK") and dhcp_lines(text, "DHCPRELEASE")
    assert f"lease eth0 {lease['cidr']}" in log and "network eth0:" in log


@needs_root
def test_provision_alone_implies_dhcp(net: Lan, work: Path) -> None:
    with dnsmasq(net.server_ns, work / "d", "--no-ping"):
        out, _ = run_stage(net, work, "provision=http://10.77.0.1:8080/")
    assert out["lease"]["address"].startswith("10.77.1.")


@needs_root
def test_no_server_fails_with_a_clear_message(net: Lan, work: Path) -> None:
    started = time.monotonic()
    out, _ = run_stage(net, work, "ip=dhcp metalinit.dhcp_timeout=2")
    assert time.monotonic() - started < 8
    assert out["error"] == "NetworkStageError"
    assert "no DHCP server answered on eth0" in out["message"]
    assert "ip=dhcp,optional" in out["message"]


@needs_root
def test_optional_boots_on(net: Lan, work: Path) -> None:
    out, log = run_stage(net, work, "ip=dhcp,optional metalinit.dhcp_timeout=2")
    assert out["lease"] is None and "booting on without network" in log


def test_stage_imports_neither_scapy_nor_pyroute2_when_idle() -> None:
    code = (
        "import sys; from agent.net import stage; "
        "print(any(m.split('.')[0] in ('scapy', 'pyroute2') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("mask", ["0.0.0.255", "255.0.255.0", "255.255.255.1"])
def test_ip_refuses_a_host_mask_or_gapped_netmask(mask: str) -> None:
    with pytest.raises(CmdlineError, match="not a valid IPv4 netmask"):
        parse(f"ip=10.1.2.3::10.1.2.1:{mask}::eth0:off")


@needs_root
def test_link_named_by_mac_and_no_arp_probe(net: Lan, work: Path) -> None:
    net.add_client_link("eth1")  # also on the LAN, but not the one asked for
    mac = str(net.client_json("link", "show", "dev", "eth0")[0]["address"])
    with dnsmasq(net.server_ns, work / "d", "--no-ping"):
        out, log = run_stage(net, work, f"ip=dhcp metalinit.iface={mac} metalinit.arp_wait=0")
    assert out["lease"]["interface"] == "eth0" and "lease eth0 " in log
    assert addresses(net, "eth1") == []


@needs_root
def test_unknown_link_name_fails_clearly(net: Lan, work: Path) -> None:
    started = time.monotonic()
    out, _ = run_stage(net, work, "ip=dhcp metalinit.iface=eth7 metalinit.dhcp_timeout=1")
    assert out["error"] == "LinkError" and "no network link named 'eth7'" in out["message"]
    assert time.monotonic() - started < 6


@needs_root
def test_link_that_appears_later_is_waited_for(net: Lan, work: Path) -> None:
    """A NIC whose driver registers it after the stage started (heard of by netlink)."""
    with dnsmasq(net.server_ns, work / "d", "--no-ping"):
        argv = net.client(
            str(PYTHON), "-m", "tests.net.run_stage", "ip=dhcp metalinit.iface=eth5", str(work)
        )
        stage = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
        )
        try:
            time.sleep(1.5)  # the stage is waiting by now
            net.add_client_link("eth5")
            stdout, stderr = stage.communicate(timeout=30)
        finally:
            stage.kill()
            stage.wait()
    assert json.loads(stdout)["lease"]["interface"] == "eth5", stderr
