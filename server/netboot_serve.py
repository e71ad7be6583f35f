"""`metalinit serve`'s network-boot options: `--pxe` (the iPXE routes), `--dhcp
full|proxy|off` with `--dhcp-interface` and `--dhcp-range` (dnsmasq as a child), and
`--print-dnsmasq-config` (the lines for an operator's own dnsmasq, then exit)."""

from __future__ import annotations

import argparse
import logging
from ipaddress import IPv4Address
from pathlib import Path

from server import dnsmasq as dm
from server import dnsmasq_run
from server.netboot import BOOT_DIR, BootFilesMissing, boot_names

log = logging.getLogger("metalinit.server")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pxe", action="store_true", help="answer iPXE: /boot.ipxe and each machine's script"
    )
    p.add_argument(
        "--dhcp",
        choices=dm.MODES,
        default="off",
        help="run dnsmasq (implies --pxe): full (the DHCP server), proxy (boot options "
        "beside another DHCP server) or off (default)",
    )
    p.add_argument("--dhcp-interface", metavar="IFACE", help="the interface the machines boot from")
    p.add_argument(
        "--dhcp-range",
        metavar="START,END",
        type=_range,
        help="addresses for full mode (default: the upper half of the interface's subnet)",
    )
    p.add_argument(
        "--print-dnsmasq-config",
        action="store_true",
        help="print the lines for your own dnsmasq (mode from --dhcp, default full); exit",
    )


def _range(text: str) -> tuple[IPv4Address, IPv4Address]:
    try:
        return dm.parse_range(text)
    except dm.DnsmasqConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def pxe_wanted(args: argparse.Namespace) -> bool:
    return bool(args.pxe or args.dhcp != "off" or args.print_dnsmasq_config)


def settings(args: argparse.Namespace, host: str, port: int, data: Path,
             mode: str) -> dm.DhcpSettings:  # fmt: skip
    """dnsmasq's settings from the options and the interface as the kernel has it."""
    if not args.dhcp_interface:
        raise dm.DnsmasqConfigError(
            f"--dhcp {mode} needs --dhcp-interface IFACE: the interface on the network "
            "the machines boot from"
        )
    if port == 0:
        raise dm.DnsmasqConfigError("--listen HOST:0 cannot go into DHCP answers: give a port")
    name = args.dhcp_interface
    address = dnsmasq_run.interface_address(name)
    reachable = host if host not in ("0.0.0.0", "::", "") else str(address.ip)
    first, last = args.dhcp_range or (None, None)
    workdir = data / "dnsmasq"
    return dm.DhcpSettings(
        mode=mode,
        interface=name,
        address=address,
        script_url=f"http://{reachable}:{port}/boot.ipxe",
        tftp_root=dnsmasq_run.find_ipxe(),
        lease_file=workdir / "leases",
        pid_file=workdir / "pid",
        first=first,
        last=last,
        ipv6_ra=dnsmasq_run.has_ipv6_prefix(name),
    )


def print_config(args: argparse.Namespace, host: str, port: int, data: Path) -> str:
    mode = args.dhcp if args.dhcp != "off" else "full"
    return dm.config_text(settings(args, host, port, data, mode), ours=False)


def check_boot_files(artifacts: Path) -> None:
    try:
        kernel, archives = boot_names(artifacts)
    except BootFilesMissing as err:
        log.warning("--pxe: %s; until then machines are sent to their disks", err)
        return
    log.info("--pxe: machines boot %s/%s/%s with %s", artifacts, BOOT_DIR, kernel,
             ", ".join(archives))  # fmt: skip


def start_dhcp(args: argparse.Namespace, host: str, port: int,
               data: Path) -> dnsmasq_run.Supervisor | None:  # fmt: skip
    """dnsmasq started as our child (None with --dhcp off); the caller stops it."""
    if args.dhcp == "off":
        return None
    chosen = settings(args, host, port, data, args.dhcp)
    assert chosen.lease_file is not None
    chosen.lease_file.parent.mkdir(parents=True, exist_ok=True)
    conf = chosen.lease_file.parent / "dnsmasq.conf"
    conf.write_text(dm.config_text(chosen))
    supervisor = dnsmasq_run.Supervisor(dnsmasq_run.keeper_argv(dnsmasq_run.dnsmasq_argv(conf)))
    supervisor.start()
    log.info("dnsmasq: DHCP %s on %s, iPXE script %s, TFTP %s", chosen.mode, chosen.interface,
             chosen.script_url, chosen.tftp_root)  # fmt: skip
    return supervisor
