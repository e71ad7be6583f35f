"""dnsmasq's configuration, as tables: ranges, modes, the boot file per client, router
advertisements; and dnsmasq itself (`--test`) accepting every configuration we write."""

from __future__ import annotations

import shutil
import subprocess
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

import pytest

from server import dnsmasq as dm

IFACE = IPv4Interface("10.77.0.1/16")
URL = "http://10.77.0.1:8080/boot.ipxe"


def settings(mode: str = "full", **changes: object) -> dm.DhcpSettings:
    base: dict[str, object] = {
        "mode": mode, "interface": "br0", "address": IFACE, "script_url": URL,
        "tftp_root": Path("/usr/lib/ipxe"), "lease_file": Path("/var/lib/m/leases"),
        "pid_file": Path("/var/lib/m/pid"),
    }  # fmt: skip
    return dm.DhcpSettings(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "first", "last"),
    [
        ("10.77.0.1/16", "10.77.128.0", "10.77.255.254"),
        ("192.168.1.1/24", "192.168.1.128", "192.168.1.254"),
        ("192.168.1.200/24", "192.168.1.1", "192.168.1.127"),  # ours in the upper half
        ("172.16.5.9/29", "172.16.5.12", "172.16.5.14"),
    ],
)
def test_default_range_is_the_upper_half(address: str, first: str, last: str) -> None:
    assert dm.default_range(IPv4Interface(address)) == (IPv4Address(first), IPv4Address(last))


def test_a_tiny_subnet_needs_a_range() -> None:
    with pytest.raises(dm.DnsmasqConfigError, match="too small"):
        dm.default_range(IPv4Interface("10.0.0.1/30"))


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("10.77.1.10,10.77.1.20", None),
        (" 10.77.1.10 , 10.77.1.20 ", None),
        ("10.77.1.10", "expected START,END"),
        ("10.77.1.10-10.77.1.20", "expected START,END"),
        ("10.77.1.300,10.77.1.20", "expected START,END"),
        ("10.77.1.20,10.77.1.10", "START is above END"),
    ],
)
def test_parse_range(text: str, error: str | None) -> None:
    if error is None:
        assert dm.parse_range(text) == (IPv4Address("10.77.1.10"), IPv4Address("10.77.1.20"))
    else:
        with pytest.raises(dm.DnsmasqConfigError, match=error):
            dm.parse_range(text)


@pytest.mark.parametrize(
    ("first", "last", "error"),
    [
        ("10.78.0.10", "10.78.0.20", "not in br0's subnet 10.77.0.0/16"),
        ("10.77.0.0", "10.77.0.20", "holds br0's own address 10.77.0.1"),
    ],
)
def test_a_given_range_must_fit_the_interface(first: str, last: str, error: str) -> None:
    with pytest.raises(dm.DnsmasqConfigError, match=error):
        dm.config_lines(settings(first=IPv4Address(first), last=IPv4Address(last)))


@pytest.mark.parametrize(
    ("mode", "present", "absent"),
    [
        ("full", ["dhcp-range=10.77.128.0,10.77.255.254,255.255.0.0,1h",
                  f"dhcp-boot=tag:ipxe,{URL}",
                  "dhcp-boot=tag:pxe,tag:!ipxe,tag:efi64,ipxe.efi",
                  "dhcp-boot=tag:pxe,tag:!ipxe,tag:bios,undionly.kpxe",
                  "dhcp-boot=tag:pxe,tag:!ipxe,tag:!arch,undionly.kpxe",
                  "dhcp-match=set:efi64,option:client-arch,7",
                  "dhcp-match=set:efi64,option:client-arch,9",
                  "dhcp-match=set:bios,option:client-arch,0",
                  "dhcp-userclass=set:ipxe,iPXE",
                  "dhcp-option-force=tag:ipxe,option:vendor-class,PXEClient"],
         ["pxe-service", ",proxy"]),
        ("proxy", ["dhcp-range=10.77.0.0,proxy,255.255.0.0",
                   f"pxe-service=tag:ipxe,x86PC,metalinit,{URL}",
                   f"pxe-service=tag:ipxe,X86-64_EFI,metalinit,{URL}",
                   "pxe-service=tag:!ipxe,x86PC,metalinit,undionly.kpxe",
                   "pxe-service=tag:!ipxe,X86-64_EFI,metalinit,ipxe.efi"],
         ["dhcp-boot", "1h", "enable-ra"]),
    ],
)  # fmt: skip
def test_modes(mode: str, present: list[str], absent: list[str]) -> None:
    lines = dm.config_lines(settings(mode, ipv6_ra=True))
    for line in present:
        assert line in lines
    for word in absent:
        assert not [line for line in lines if word in line], word
    for line in ("port=0", "interface=br0", "bind-interfaces", "enable-tftp",
                 "tftp-root=/usr/lib/ipxe", "dhcp-leasefile=/var/lib/m/leases"):  # fmt: skip
        assert line in lines


@pytest.mark.parametrize(("ipv6", "expected"), [(True, True), (False, False)])
def test_router_advertisements_only_with_a_prefix(ipv6: bool, expected: bool) -> None:
    lines = dm.config_lines(settings(ipv6_ra=ipv6))
    assert ("ra-param=br0,high,0,0" in lines) is expected  # router lifetime 0: not a router
    assert ("dhcp-range=::,constructor:br0,ra-only" in lines) is expected


def test_lines_for_an_operators_dnsmasq_leave_its_own_settings_alone() -> None:
    lines = dm.config_lines(settings(), ours=False)
    for word in ("port=", "bind-interfaces", "dhcp-leasefile", "pid-file"):
        assert not [line for line in lines if line.startswith(word)], word
    assert f"dhcp-boot=tag:ipxe,{URL}" in lines


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(dm.DnsmasqConfigError, match="--dhcp 'relay'"):
        dm.config_lines(settings("relay"))


@pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq not installed")
@pytest.mark.parametrize(
    "chosen",
    [settings("full"), settings("full", ipv6_ra=True), settings("proxy"),
     settings("full", first=IPv4Address("10.77.5.1"), last=IPv4Address("10.77.5.99"))],
)  # fmt: skip
def test_dnsmasq_accepts_the_configuration(tmp_path: Path, chosen: dm.DhcpSettings) -> None:
    for ours in (True, False):
        conf = tmp_path / "dnsmasq.conf"
        conf.write_text(dm.config_text(chosen, ours=ours))
        done = subprocess.run(["dnsmasq", "--test", f"--conf-file={conf}"],
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert done.returncode == 0 and "syntax check OK" in done.stderr, done.stderr
