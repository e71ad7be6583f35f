"""`ip=client::gateway:netmask:hostname:device:off[:dns0[:dns1]]` as a lease. Pure."""

from __future__ import annotations

import time
from ipaddress import IPv4Address

from agent.cmdline import IpConfig, IpMode
from agent.errors import AgentError
from agent.net.lease import INFINITE, Lease
from agent.net.links import Link


class StaticError(AgentError):
    """A static ip= that cannot be applied as given."""


def static_lease(config: IpConfig, link: Link) -> Lease:
    if config.mode is not IpMode.STATIC or config.address is None:
        raise StaticError(f"ip= is {config.mode.value}, not a static address")
    prefix = config.prefixlen if config.prefixlen is not None else 24
    lease = Lease(
        interface=link.name,
        mac=link.mac,
        address=IPv4Address(config.address),
        prefixlen=prefix,
        routers=(IPv4Address(config.gateway),) if config.gateway else (),
        dns=tuple(IPv4Address(server) for server in config.dns),
        hostname=config.hostname,
        lease_time=INFINITE,
        t1=INFINITE,
        t2=INFINITE,
        obtained_at=time.time(),
        source="static",
    )
    gateway = lease.gateway
    if gateway is not None and gateway not in lease.interface_address.network:
        raise StaticError(
            f"ip=: gateway {gateway} is outside {lease.interface_address.network}; "
            "fix the address, netmask or gateway field"
        )
    return lease
