"""dnsmasq's configuration for network boot, pure: settings in, config-file lines out.

Modes (`metalinit serve --dhcp`):

- `full`: dnsmasq is the network's DHCP server: an address range (by default the upper half
  of the interface's subnet) and the boot options;
- `proxy`: another DHCP server hands out addresses; dnsmasq answers PXE clients only, with
  the boot options (proxyDHCP, `dhcp-range=NETWORK,proxy`);
- `off`: no DHCP from us (an operator's own server, see `--print-dnsmasq-config`).

The boot file follows the client, as Smee's table does for x86: a client whose user-class
is iPXE gets the HTTP script URL; a PXE ROM with client architecture (option 93) 0, or
none, gets `undionly.kpxe`; 7 or 9 (x86-64 UEFI) get `ipxe.efi`, both by TFTP from the
directory Debian's `ipxe` package fills. Other architectures get no boot file: there is no
iPXE build for them here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

MODES = ("full", "proxy", "off")
BIOS_FILE = "undionly.kpxe"
UEFI_FILE = "ipxe.efi"
LEASE_TIME = "1h"
# option 93 (RFC 4578, IANA "Processor Architecture Types"): which ones get which file
ARCH_BIOS = (0,)
ARCH_UEFI_X64 = (7, 9)


class DnsmasqConfigError(Exception):
    """Settings dnsmasq cannot be configured from; the message says what to give instead."""


@dataclass(frozen=True)
class DhcpSettings:
    mode: str  # full | proxy
    interface: str
    address: IPv4Interface  # the interface's own address and subnet, e.g. 10.77.0.1/16
    script_url: str  # http://ADDRESS:PORT/boot.ipxe
    tftp_root: Path  # holds undionly.kpxe and ipxe.efi
    lease_file: Path | None = None  # ours only; an operator's dnsmasq keeps its own
    pid_file: Path | None = None
    first: IPv4Address | None = None  # full: the range; None: the upper half
    last: IPv4Address | None = None
    ipv6_ra: bool = False  # the interface has an IPv6 prefix to advertise (full mode only)


def parse_range(text: str) -> tuple[IPv4Address, IPv4Address]:
    """`--dhcp-range START,END` into two addresses, START not above END."""
    usage = f"--dhcp-range {text!r}: expected START,END, e.g. 10.0.0.100,10.0.0.200"
    start, sep, end = text.partition(",")
    if not sep:
        raise DnsmasqConfigError(usage)
    try:
        first, last = IPv4Address(start.strip()), IPv4Address(end.strip())
    except ValueError:
        raise DnsmasqConfigError(usage) from None
    if first > last:
        raise DnsmasqConfigError(f"--dhcp-range {text!r}: START is above END")
    return first, last


def default_range(address: IPv4Interface) -> tuple[IPv4Address, IPv4Address]:
    """The upper half of the interface's subnet (without its broadcast address); the lower
    half when the interface's own address lies in the upper one."""
    net = address.network
    if net.num_addresses < 8:
        raise DnsmasqConfigError(
            f"{address}: the subnet is too small for a default range; give --dhcp-range START,END"
        )
    half = net.num_addresses // 2
    upper = (net.network_address + half, net.broadcast_address - 1)
    lower = (net.network_address + 1, net.network_address + half - 1)
    return lower if upper[0] <= address.ip <= upper[1] else upper


def checked_range(settings: DhcpSettings) -> tuple[IPv4Address, IPv4Address]:
    if settings.first is None or settings.last is None:
        return default_range(settings.address)
    net = settings.address.network
    for end in (settings.first, settings.last):
        if end not in net:
            raise DnsmasqConfigError(
                f"--dhcp-range: {end} is not in {settings.interface}'s subnet {net}"
            )
    if settings.first <= settings.address.ip <= settings.last:
        raise DnsmasqConfigError(
            f"--dhcp-range {settings.first},{settings.last} holds {settings.interface}'s own "
            f"address {settings.address.ip}; choose a range beside it"
        )
    return settings.first, settings.last


def range_lines(settings: DhcpSettings) -> list[str]:
    net = settings.address.network
    if settings.mode == "proxy":
        return [f"dhcp-range={net.network_address},proxy,{net.netmask}"]
    if settings.mode != "full":
        raise DnsmasqConfigError(f"--dhcp {settings.mode!r}: use one of {', '.join(MODES)}")
    first, last = checked_range(settings)
    return [f"dhcp-range={first},{last},{net.netmask},{LEASE_TIME}"]


def boot_lines(settings: DhcpSettings) -> list[str]:
    """Tags by who asks, then the boot file per tag (negations keep them exclusive)."""
    ipxe = settings.script_url
    lines = ["dhcp-vendorclass=set:pxe,PXEClient", "dhcp-userclass=set:ipxe,iPXE"]
    lines += ["dhcp-match=set:arch,option:client-arch"]
    lines += [f"dhcp-match=set:bios,option:client-arch,{n}" for n in ARCH_BIOS]
    lines += [f"dhcp-match=set:efi64,option:client-arch,{n}" for n in ARCH_UEFI_X64]
    if settings.mode == "proxy":
        # proxyDHCP sends only what the PXE menu says; iPXE reads the menu's file as well.
        return [
            *lines,
            "pxe-prompt=metalinit,0",
            f"pxe-service=tag:ipxe,x86PC,metalinit,{ipxe}",
            f"pxe-service=tag:ipxe,X86-64_EFI,metalinit,{ipxe}",
            f"pxe-service=tag:!ipxe,x86PC,metalinit,{BIOS_FILE}",
            f"pxe-service=tag:!ipxe,X86-64_EFI,metalinit,{UEFI_FILE}",
            f"pxe-service=tag:!ipxe,BC_EFI,metalinit,{UEFI_FILE}",
        ]
    return [
        *lines,
        # iPXE waits 3 s for proxyDHCP offers unless the offer says PXEClient; a PXE ROM
        # must not see it (without option 43 it would look for a boot server instead)
        "dhcp-option-force=tag:ipxe,option:vendor-class,PXEClient",
        f"dhcp-boot=tag:ipxe,{ipxe}",
        f"dhcp-boot=tag:pxe,tag:!ipxe,tag:efi64,{UEFI_FILE}",
        f"dhcp-boot=tag:pxe,tag:!ipxe,tag:bios,{BIOS_FILE}",
        f"dhcp-boot=tag:pxe,tag:!ipxe,tag:!arch,{BIOS_FILE}",
    ]


def config_lines(settings: DhcpSettings, *, ours: bool = True) -> list[str]:
    """The configuration file. `ours`: for the dnsmasq `serve` runs (no DNS, bound to the
    one interface, its lease and pid files in the data directory); else the lines an
    operator adds to a dnsmasq of their own."""
    head = [
        f"# metalinit serve: DHCP ({settings.mode}) and TFTP for network boot on "
        f"{settings.interface}",
        f"interface={settings.interface}",
    ]
    if ours:
        head += ["port=0", "bind-interfaces", f"dhcp-leasefile={settings.lease_file}",
                 f"pid-file={settings.pid_file}"]  # fmt: skip
    head += ["log-dhcp", "enable-tftp", f"tftp-root={settings.tftp_root}"]
    return [*head, *range_lines(settings), *ra_lines(settings), *boot_lines(settings)]


def ra_lines(settings: DhcpSettings) -> list[str]:
    """iPXE waits about 15 s for IPv6 autoconfiguration on a network without router
    advertisements. In full mode the network is ours: advertise the interface's prefix
    for addresses only, with router lifetime 0, so no host takes us for its router."""
    if settings.mode != "full" or not settings.ipv6_ra:
        return []
    name = settings.interface
    return ["enable-ra", f"dhcp-range=::,constructor:{name},ra-only", f"ra-param={name},high,0,0"]


def config_text(settings: DhcpSettings, *, ours: bool = True) -> str:
    return "\n".join(config_lines(settings, ours=ours)) + "\n"


def network_of(text: str) -> IPv4Interface:
    """`10.77.0.1/16` into an interface address (for --print-dnsmasq-config and tests)."""
    try:
        return ipaddress.IPv4Interface(text)
    except ValueError as err:
        raise DnsmasqConfigError(f"{text!r}: expected ADDRESS/PREFIX: {err}") from None
