"""The steps the boot stage and `metalinit dhcp` share: choose links, get a lease (DHCP or
static), put it into effect, keep it. Each step logs one line a user can read."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from agent.cmdline import IpConfig, IpMode
from agent.errors import AgentError
from agent.log import Log
from agent.net.apply import (
    EtcFiles,
    apply_addresses,
    netlink_errors,
    remove_address,
    write_etc,
    write_lease_json,
)
from agent.net.client import DEFAULT_ARP_WAIT, Client, NoLease
from agent.net.lease import Lease
from agent.net.links import IFF_UP, CarrierWatch, Link, LinkError, await_candidates, bring_up, ipr
from agent.net.message import scapy_layers
from agent.net.renew import Renewer
from agent.net.static import static_lease

DEFAULT_TIMEOUT = 30.0


class NetworkError(AgentError):
    """The kernel refused a network change the agent asked for."""


@dataclass(frozen=True)
class Want:
    """What to ask for: which links, DHCP or static, and how long to wait."""

    names: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    bring_up: bool = True
    static: IpConfig | None = None
    hostname: str | None = None
    previous: IPv4Address | None = None
    arp_wait: float = DEFAULT_ARP_WAIT


@dataclass(frozen=True)
class Outcome:
    lease: Lease
    link: Link
    seconds: float
    dropped: int = 0


def choose_links(route: Any, names: tuple[str, ...], timeout: float) -> list[Link]:
    """The links to use, waiting up to timeout for them to appear."""
    if not names:
        return await_candidates(route, None, timeout)
    return [link for name in names for link in await_candidates(route, name, timeout)]


def obtain(want: Want, log: Log) -> Outcome:
    """A lease on the first link that gets one (NoLease, LinkError, NetworkError otherwise)."""
    started = time.monotonic()
    if want.static is None:  # scapy's import overlaps the wait for carrier
        threading.Thread(target=_import_scapy, name="import-scapy", daemon=True).start()
    route = ipr()
    try:
        links = choose_links(route, want.names, want.timeout)
        if want.bring_up:
            bring_up(route, links)
        else:
            links = _only_up(route, links, log)
        watch = CarrierWatch(route, links)
        try:
            if want.static is not None and want.static.mode is IpMode.STATIC:
                up = watch.wait_any(max(0.0, want.timeout - (time.monotonic() - started)))
                if not up:
                    names = ", ".join(map(str, links))
                    raise NoLease(
                        f"no carrier on {names} within {want.timeout:g}s: check the cable"
                    )
                link = next(link for link in links if link.index in up)
                return Outcome(static_lease(want.static, link), link, time.monotonic() - started)
            client = Client(
                links, log, hostname=want.hostname, previous=want.previous, arp_wait=want.arp_wait
            )
            left = max(0.0, want.timeout - (time.monotonic() - started))
            lease = client.acquire(left, watch)
            link = next(link for link in links if link.name == lease.interface)
            return Outcome(lease, link, time.monotonic() - started, client.dropped)
        finally:
            watch.close()
    except netlink_errors() as err:
        raise NetworkError(f"network links: {err}") from err
    finally:
        route.close()


def _import_scapy() -> None:
    with contextlib.suppress(Exception):  # the client's own import reports any failure
        scapy_layers()


def _only_up(route: Any, links: list[Link], log: Log) -> list[Link]:
    """Without leave to change links, the ones already up (a warning for each one down)."""
    down = {int(m["index"]) for m in route.get_links() if not m["flags"] & IFF_UP}
    for link in links:
        if link.index in down:
            log.warn(f"{link} is down; --apply brings it up")
    usable = [link for link in links if link.index not in down]
    if not usable:
        raise LinkError("every candidate link is down; bring one up or use --apply")
    return usable


def lease_line(outcome: Outcome) -> str:
    lease = outcome.lease
    verb = "lease" if lease.source == "dhcp" else "static"
    return f"{verb} {lease.summary()} ({outcome.seconds:.2f}s)"


def put_into_effect(
    lease: Lease, log: Log, *, etc: EtcFiles, run: Path, previous: Lease | None = None
) -> None:
    """Address, MTU, routes, /etc files, lease.json; one log line saying what was set."""
    try:
        refused = apply_addresses(lease, previous)
    except netlink_errors() as err:
        raise NetworkError(f"cannot configure {lease.interface}: {err}") from err
    for why in refused:
        log.warn(f"network {lease.interface}: route {why}")
    write_etc(lease, etc)
    write_lease_json(lease, run)
    if lease.hostname and os.getpid() == 1:
        socket.sethostname(lease.hostname)
    routes = ", ".join(str(r) for r in lease.routes) or "none"
    mtu = f" mtu {lease.mtu}" if lease.mtu else ""
    dns = ",".join(map(str, lease.dns)) or "none"
    log.info(
        f"network {lease.interface}: {lease.interface_address}{mtu} routes {routes} "
        f"dns {dns} hostname {lease.hostname or '-'}"
    )


def keep(
    lease: Lease,
    link: Link,
    log: Log,
    *,
    etc: EtcFiles,
    run: Path,
    timeout: float,
    wanted: Callable[[], bool],
    noted: Callable[[Lease], None] | None = None,
) -> Renewer:
    """Start the renewal thread; a lost lease is taken off the link and acquired anew."""

    def on_lease(old: Lease, new: Lease) -> None:
        put_into_effect(new, log, etc=etc, run=run, previous=old)
        log.info(f"dhcp {link}: renewed {new.address} for {new.lease_time}s")
        if noted is not None:
            noted(new)

    def on_lost(old: Lease, why: str) -> Lease | None:
        log.warn(f"dhcp {link}: {why}; removing {old.address} and asking again")
        remove_address(old)
        while wanted():
            try:
                outcome = obtain(Want(names=(link.name,), timeout=timeout), log)
            except NoLease as err:
                log.warn(str(err))
                continue
            log.info(lease_line(outcome))
            return outcome.lease
        return None

    renewer = Renewer(lease, link, log, on_lease=on_lease, on_lost=on_lost, wanted=wanted)
    renewer.start()
    return renewer
