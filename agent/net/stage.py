"""The boot's network stage, and its two companions at root hand-over and at power-off.

`network` acts only when `ip=` or `provision=` asks: `ip=off` does nothing, a static `ip=`
is applied as given, and DHCP (also implied by `provision=` alone) takes the first lease on
any candidate link and keeps renewing it in the background. Without a lease by the timeout
(`metalinit.dhcp_timeout=`, default 30 s) the stage fails, unless `ip=dhcp,optional`.
`metalinit.arp_wait=S` probes the offered address by ARP for S seconds and declines it if
another host answers (default 0: no probe).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.cmdline import IpConfig, IpMode
from agent.context import Context
from agent.errors import AgentError

if TYPE_CHECKING:
    from agent.net.apply import EtcFiles

# The network code is imported only when the command line asks for a network, so a boot
# without one pays nothing for it (nor for scapy and pyroute2, which it imports on use).
TIMEOUT_KEY = "metalinit.dhcp_timeout"
ARP_KEY = "metalinit.arp_wait"


class NetworkStageError(AgentError):
    """The network the command line asked for could not be set up."""


def wanted_config(ctx: Context) -> IpConfig | None:
    """What the command line asks of the network: ip=, or DHCP because provision= needs it."""
    if ctx.params.ip is not None:
        return ctx.params.ip
    if ctx.params.provision is not None:
        return IpConfig(IpMode.DHCP)
    return None


def seconds(ctx: Context, key: str, default: float, *, zero_ok: bool = False) -> float:
    """A number of seconds from a `metalinit.…=` kernel argument."""
    text = ctx.params.unknown.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0 or (value == 0 and not zero_ok):
        raise NetworkStageError(f"{key}={text!r} must be a positive number of seconds")
    return value


def network(ctx: Context, *, etc: EtcFiles | None = None) -> None:
    config = wanted_config(ctx)
    if config is None:
        return
    if config.mode is IpMode.OFF:
        ctx.log.info("network: ip=off, leaving the links alone")
        return
    from agent.net.apply import EtcFiles
    from agent.net.client import DEFAULT_ARP_WAIT, NoLease
    from agent.net.lease import Lease
    from agent.net.session import DEFAULT_TIMEOUT, Want, keep, lease_line, obtain, put_into_effect

    etc = etc or EtcFiles()
    device = config.device or ctx.params.iface
    want = Want(
        names=(device,) if device else (),
        timeout=seconds(ctx, TIMEOUT_KEY, DEFAULT_TIMEOUT),
        arp_wait=seconds(ctx, ARP_KEY, DEFAULT_ARP_WAIT, zero_ok=True),
        static=config if config.mode is IpMode.STATIC else None,
        hostname=config.hostname,
    )
    try:
        outcome = obtain(want, ctx.log)
    except NoLease as err:
        if config.optional:
            ctx.log.warn(f"{err}; booting on without network (ip=dhcp,optional)")
            return
        raise NetworkStageError(
            f"{err} (waited {want.timeout:g}s; raise it with {TIMEOUT_KEY}=, "
            "or boot on without network with ip=dhcp,optional)"
        ) from err
    ctx.log.info(lease_line(outcome))
    put_into_effect(outcome.lease, ctx.log, etc=etc, run=ctx.paths.run)
    ctx.lease = outcome.lease.to_json()
    if outcome.lease.source != "dhcp":
        return

    def note(lease: Lease) -> None:
        if ctx.lease is not None:
            ctx.lease = lease.to_json()

    keep(
        outcome.lease,
        outcome.link,
        ctx.log,
        etc=etc,
        run=ctx.paths.run,
        timeout=want.timeout,
        wanted=lambda: ctx.lease is not None,
        noted=note,
    )


def carry_into_root(ctx: Context, new_root: Path, *, etc: EtcFiles | None = None) -> None:
    """Copy resolv.conf, hostname and hosts into the mounted root, if the network set them."""
    config = wanted_config(ctx)
    if config is None or config.mode is IpMode.OFF or ctx.lease is None:
        return
    from agent.net.apply import EtcFiles, carry

    written = carry(etc or EtcFiles(), new_root)
    if written:
        names = ", ".join(path.name for path in written)
        ctx.log.info(f"network: carried {names} into {new_root}/etc")


def release(ctx: Context) -> None:
    """Give a DHCP lease back before poweroff or reboot (and stop renewing it)."""
    data, ctx.lease = ctx.lease, None
    if data is None or data.get("source") != "dhcp":
        return
    from agent.net.lease import Lease
    from agent.net.links import ipr
    from agent.net.renew import link_of
    from agent.net.renew import release as send_release

    lease = Lease.from_json(data)
    try:
        route = ipr()
        try:
            index = route.link_lookup(ifname=lease.interface)[0]
        finally:
            route.close()
        send_release(lease, link_of(lease, index))
    except (OSError, IndexError) as err:
        ctx.log.warn(f"dhcp {lease.interface}: could not release {lease.address}: {err}")
        return
    ctx.log.info(f"dhcp {lease.interface}: released {lease.address} to {lease.server_id}")
