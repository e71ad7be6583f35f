"""Network links: which ones to use, bringing them up, and carrier as netlink events.

Candidates are lo plus every Ethernet link, or the one link named by `ip=…:dev:` or
`metalinit.iface=` (a name or a MAC). Carrier is learnt from RTM_NEWLINK messages on a
netlink socket subscribed before the first look at the links, so no change is missed and
nothing ever sleeps to find out.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass
from typing import Any

from agent.errors import AgentError

ARPHRD_ETHER = 1
IFF_UP = 0x1
IFF_LOWER_UP = 0x10000
RTMGRP_LINK = 0x1
# Ethernet-typed links that are not NICs a DHCP server could sit behind.
VIRTUAL_KINDS = {"bridge", "bond", "dummy", "ifb", "vlan", "macvlan", "vxlan", "team", "wireguard"}


class LinkError(AgentError):
    """The wanted link does not exist or cannot be used."""


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    mac: str

    def __str__(self) -> str:
        return self.name

    @property
    def mac_hex(self) -> str:
        return self.mac.replace(":", "")


def ipr() -> Any:
    """An IPRoute socket; pyroute2 is imported here, on first need only."""
    from agent.net.rtnl import IPRoute

    return IPRoute()


def _kind(msg: Any) -> str | None:
    info = msg.get_attr("IFLA_LINKINFO")
    return info.get_attr("IFLA_INFO_KIND") if info is not None else None


def candidates(route: Any, wanted: str | None = None) -> list[Link]:
    """The links DHCP runs on: the wanted one (by name or MAC), else every Ethernet link."""
    links: list[Link] = []
    for msg in route.get_links():
        name, mac = msg.get_attr("IFLA_IFNAME"), (msg.get_attr("IFLA_ADDRESS") or "").lower()
        link = Link(int(msg["index"]), str(name), mac)
        if wanted is not None:
            if wanted == link.name or wanted.lower() == link.mac:
                return [link]
            continue
        if msg["ifi_type"] == ARPHRD_ETHER and _kind(msg) not in VIRTUAL_KINDS:
            links.append(link)
    if wanted is not None:
        raise LinkError(f"no network link named {wanted!r}; `ip link` lists the links there are")
    if not links:
        raise LinkError("no Ethernet link found: is the NIC's driver loaded (metalinit.modules=)?")
    return links


def await_candidates(route: Any, wanted: str | None, timeout: float) -> list[Link]:
    """`candidates`, waiting (on link events) up to timeout seconds for a NIC whose driver
    is still registering it."""
    sock = link_events()
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return candidates(route, wanted)
            except LinkError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
            if select.select([sock], [], [], left)[0]:
                while _drain(sock):
                    pass
    finally:
        sock.close()


def link_events() -> socket.socket:
    """A netlink socket that hears of every link change from now on."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.bind((0, RTMGRP_LINK))
    sock.setblocking(False)
    return sock


def _drain(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except BlockingIOError:
        return b""


def bring_up(route: Any, links: list[Link]) -> None:
    """Set lo and the links administratively up (a no-op for links already up)."""
    for index in [*route.link_lookup(ifname="lo"), *(link.index for link in links)]:
        route.link("set", index=index, state="up")


def _running(msg: Any) -> bool:
    """Up with carrier, as the kernel's link watcher has settled it: IFF_LOWER_UP is set the
    moment a driver sees carrier, but the link sends and receives reliably only once the
    operational state says UP (UNKNOWN for drivers that keep no such state)."""
    flags = int(msg["flags"])
    if not (flags & IFF_UP and flags & IFF_LOWER_UP):
        return False
    return msg.get_attr("IFLA_OPERSTATE") in ("UP", "UNKNOWN", None)


class CarrierWatch:
    """Carrier state of a set of links, kept current from netlink link events."""

    def __init__(self, route: Any, links: list[Link]) -> None:
        from agent.net.rtnl import MarshalRtnl

        self.indices = {link.index for link in links}
        self.sock = link_events()
        self._marshal = MarshalRtnl()
        self.carrier: dict[int, bool] = {}
        for msg in route.get_links():
            self._note(msg)

    def _note(self, msg: Any) -> None:
        if msg.get("event") not in (None, "RTM_NEWLINK", "RTM_DELLINK"):
            return
        index = int(msg["index"])
        if index in self.indices:
            self.carrier[index] = msg.get("event") != "RTM_DELLINK" and _running(msg)

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> None:
        """Take in every pending event (call when fileno() is readable)."""
        while data := _drain(self.sock):
            for msg in self._marshal.parse(data):
                self._note(msg)

    def up(self) -> set[int]:
        return {index for index, up in self.carrier.items() if up}

    def wait_any(self, timeout: float) -> set[int]:
        """Block on events until some link has carrier or timeout passes; the links up."""
        deadline = time.monotonic() + timeout
        while not self.up():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if select.select([self.sock], [], [], left)[0]:
                self.read()
        return self.up()

    def close(self) -> None:
        self.sock.close()
