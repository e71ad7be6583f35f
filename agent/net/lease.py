"""A lease: what an ACK (or a static `ip=`) gives the machine, checked, as one typed record.

Pure. `from_ack` refuses what a hostile or broken server might offer (0.0.0.0, broadcast,
multicast, loopback, the subnet's own network or broadcast address) and picks routes as
RFC 3442 says: option 121, when present, replaces option 3.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field, replace
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from agent.net import options as opt
from agent.net.message import Message, MessageType

DEFAULT_LEASE_SECONDS = 3600
INFINITE = 0xFFFFFFFF
DEFAULT_ROUTE = IPv4Network("0.0.0.0/0")


@dataclass(frozen=True)
class Lease:
    interface: str
    mac: str
    address: IPv4Address
    prefixlen: int
    server_id: IPv4Address | None = None
    server_mac: str = ""
    routers: tuple[IPv4Address, ...] = ()
    classless_routes: tuple[opt.Route, ...] = ()
    dns: tuple[IPv4Address, ...] = ()
    domain: str | None = None
    search: tuple[str, ...] = ()
    hostname: str | None = None
    mtu: int | None = None
    lease_time: int = DEFAULT_LEASE_SECONDS
    t1: int = DEFAULT_LEASE_SECONDS // 2
    t2: int = DEFAULT_LEASE_SECONDS * 7 // 8
    next_server: IPv4Address | None = None
    bootfile: str | None = None
    obtained_at: float = 0.0  # wall-clock seconds
    source: str = "dhcp"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def interface_address(self) -> IPv4Interface:
        return IPv4Interface((self.address, self.prefixlen))

    @property
    def routes(self) -> tuple[opt.Route, ...]:
        """Routes to install: option 121 when the server sent it, else a default via option 3."""
        if self.classless_routes:
            return self.classless_routes
        if self.routers:
            return (opt.Route(DEFAULT_ROUTE, self.routers[0]),)
        return ()

    @property
    def gateway(self) -> IPv4Address | None:
        for route in self.routes:
            if route.network == DEFAULT_ROUTE:
                return route.gateway
        return None

    def renewed(self, other: Lease) -> Lease:
        return replace(other, interface=self.interface, mac=self.mac)

    def summary(self) -> str:
        parts = [f"{self.interface} {self.interface_address}"]
        if self.gateway is not None:
            parts.append(f"router {self.gateway}")
        if self.dns:
            parts.append("dns " + ",".join(map(str, self.dns)))
        if self.server_id is not None:
            parts.append(f"from {self.server_id}")
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, IPv4Address):
                data[key] = str(value)
            elif isinstance(value, tuple):
                data[key] = [str(v) for v in value]
        data["classless_routes"] = [
            {"network": str(r.network), "gateway": str(r.gateway)} for r in self.classless_routes
        ]
        data["routes"] = [
            {"network": str(r.network), "gateway": str(r.gateway)} for r in self.routes
        ]
        data["cidr"] = str(self.interface_address)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Lease:
        def addr(key: str) -> IPv4Address | None:
            return IPv4Address(data[key]) if data.get(key) else None

        return cls(
            interface=data["interface"],
            mac=data["mac"],
            address=IPv4Address(data["address"]),
            prefixlen=int(data["prefixlen"]),
            server_id=addr("server_id"),
            server_mac=data.get("server_mac", ""),
            routers=tuple(IPv4Address(a) for a in data.get("routers", ())),
            classless_routes=tuple(
                opt.Route(IPv4Network(r["network"]), IPv4Address(r["gateway"]))
                for r in data.get("classless_routes", ())
            ),
            dns=tuple(IPv4Address(a) for a in data.get("dns", ())),
            domain=data.get("domain"),
            search=tuple(data.get("search", ())),
            hostname=data.get("hostname"),
            mtu=data.get("mtu"),
            lease_time=int(data.get("lease_time", DEFAULT_LEASE_SECONDS)),
            t1=int(data.get("t1", DEFAULT_LEASE_SECONDS // 2)),
            t2=int(data.get("t2", DEFAULT_LEASE_SECONDS * 7 // 8)),
            next_server=addr("next_server"),
            bootfile=data.get("bootfile"),
            obtained_at=float(data.get("obtained_at", 0.0)),
            source=data.get("source", "dhcp"),
        )


def check_offer(msg: Message) -> IPv4Address:
    """The address an OFFER or ACK gives, if it can be a host's address on its subnet."""
    address = msg.yiaddr
    if (
        address.is_unspecified
        or address.is_multicast
        or address.is_loopback
        or address.is_reserved
        or address.is_link_local
    ):
        raise opt.MalformedPacket(f"server offers {address}, which no host can use")
    mask = msg.options.get(opt.SUBNET_MASK)
    prefix = opt.netmask_prefix(mask) if mask is not None else _classful(address)
    network = IPv4Network((address, prefix), strict=False)
    if prefix < 31 and address in (network.network_address, network.broadcast_address):
        raise opt.MalformedPacket(f"server offers {address}, the subnet's own {network} address")
    return address


def from_ack(msg: Message, interface: str, mac: str, now: float) -> Lease:
    """The lease an ACK grants (or an OFFER promises), or MalformedPacket saying why it
    cannot be used: an OFFER is checked as fully as an ACK, so a broken one is never taken."""
    if msg.type not in (MessageType.ACK, MessageType.OFFER):
        raise opt.MalformedPacket(f"{msg.type.name} is neither an ACK nor an OFFER")
    address = check_offer(msg)
    o = msg.options
    prefix = opt.netmask_prefix(o[opt.SUBNET_MASK]) if opt.SUBNET_MASK in o else _classful(address)
    lease_time = opt.u32(o[opt.LEASE_TIME]) if opt.LEASE_TIME in o else DEFAULT_LEASE_SECONDS
    t1 = opt.u32(o[opt.RENEWAL_T1]) if opt.RENEWAL_T1 in o else lease_time // 2
    t2 = opt.u32(o[opt.REBINDING_T2]) if opt.REBINDING_T2 in o else lease_time * 7 // 8
    if not 0 < t1 <= t2 <= lease_time:
        t1, t2 = lease_time // 2, lease_time * 7 // 8
    # Routing options are strict (a bad one drops the message); the rest are best effort.
    routes = opt.classless_routes(o[opt.CLASSLESS_ROUTES]) if opt.CLASSLESS_ROUTES in o else ()
    mtu = opt.u16(o[opt.INTERFACE_MTU]) if opt.INTERFACE_MTU in o else None
    if mtu is not None and not 576 <= mtu <= 65535:
        mtu = None
    return Lease(
        interface=interface,
        mac=mac,
        address=address,
        prefixlen=prefix,
        server_id=msg.server_id,
        server_mac=msg.src_mac,
        routers=opt.ips(o[opt.ROUTER]) if opt.ROUTER in o else (),
        classless_routes=routes,
        dns=_optional(o, opt.DNS_SERVERS, opt.ips, ()),
        domain=_optional(o, opt.DOMAIN_NAME, opt.text, None),
        search=_optional(o, opt.DOMAIN_SEARCH, opt.domain_list, ()),
        hostname=_optional(o, opt.HOSTNAME, opt.text, None),
        mtu=mtu,
        lease_time=lease_time,
        t1=t1,
        t2=t2,
        next_server=None if msg.siaddr.is_unspecified else msg.siaddr,
        bootfile=_optional(o, opt.BOOTFILE, opt.text, None) or _boot_file_field(msg),
        obtained_at=now,
    )


def _optional(options: dict[int, bytes], code: int, decode: Any, default: Any) -> Any:
    """A non-essential option: a bad one is ignored rather than costing the whole lease."""
    if code not in options:
        return default
    with contextlib.suppress(opt.MalformedPacket):
        return decode(options[code])
    return default


def _boot_file_field(msg: Message) -> str | None:
    """BOOTP's file field, unless option 52 says it holds options instead."""
    overload = msg.options.get(opt.OVERLOAD, b"\0")
    if overload[:1] in (b"\x01", b"\x03") or not msg.file.strip(b"\0"):
        return None
    with contextlib.suppress(opt.MalformedPacket):
        return opt.text(msg.file)
    return None


def _classful(address: IPv4Address) -> int:
    first = address.packed[0]
    return 8 if first < 128 else 16 if first < 192 else 24
