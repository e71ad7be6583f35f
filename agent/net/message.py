"""DHCP messages on the wire: frames built and parsed with scapy, options by `options`.

Scapy builds the Ethernet/IP/UDP/BOOTP layers and dissects the headers of what arrives; the
options area is decoded by our own code because scapy knows neither option overload nor
RFC 3396 concatenation. scapy is imported on first use only, so a boot without network never
pays for it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cache
from ipaddress import IPv4Address
from typing import Any

from agent.net import options as opt

MAGIC_COOKIE = b"c\x82Sc"
BOOTP_HEADER = 236
CLIENT_PORT = 68
SERVER_PORT = 67
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
ZERO = IPv4Address(0)
BROADCAST = IPv4Address("255.255.255.255")
VENDOR_CLASS = b"metalinit"
REQUESTED_OPTIONS = bytes(
    (
        opt.SUBNET_MASK,
        opt.ROUTER,
        opt.DNS_SERVERS,
        opt.HOSTNAME,
        opt.DOMAIN_NAME,
        opt.INTERFACE_MTU,
        opt.BROADCAST,
        opt.LEASE_TIME,
        opt.SERVER_ID,
        opt.RENEWAL_T1,
        opt.REBINDING_T2,
        opt.TFTP_SERVER,
        opt.BOOTFILE,
        opt.DOMAIN_SEARCH,
        opt.CLASSLESS_ROUTES,
    )
)


class MessageType(enum.IntEnum):
    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


@cache
def _scapy() -> dict[str, Any]:
    from scapy.layers.dhcp import BOOTP
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import ARP, Ether
    from scapy.packet import Raw

    return {"BOOTP": BOOTP, "IP": IP, "UDP": UDP, "Ether": Ether, "Raw": Raw, "ARP": ARP}


def scapy_layers() -> dict[str, Any]:
    """The scapy layer classes the network code uses, imported once."""
    return _scapy()


@dataclass(frozen=True)
class Message:
    """A server's reply, its headers checked for shape, its options merged."""

    op: int
    xid: int
    chaddr: bytes
    ciaddr: IPv4Address
    yiaddr: IPv4Address
    siaddr: IPv4Address
    sname: bytes
    file: bytes
    options: dict[int, bytes]
    src_mac: str = ""
    src_ip: IPv4Address = ZERO

    @property
    def type(self) -> MessageType:
        raw = self.options.get(opt.MESSAGE_TYPE)
        if raw is None or len(raw) != 1 or raw[0] not in MessageType._value2member_map_:
            raise opt.MalformedPacket("no valid message type (option 53)")
        return MessageType(raw[0])

    @property
    def server_id(self) -> IPv4Address | None:
        raw = self.options.get(opt.SERVER_ID)
        return opt.ip(raw) if raw is not None else None


def parse_frame(unsafe: bytes) -> Message:
    """An Ethernet frame from a packet socket into a Message, or MalformedPacket."""
    layers = _scapy()
    try:
        frame = layers["Ether"](unsafe)
    except Exception as err:  # scapy's dissectors may raise anything on garbage
        raise opt.MalformedPacket(f"frame does not dissect: {err}") from None
    ip_layer, udp = frame.getlayer(layers["IP"]), frame.getlayer(layers["UDP"])
    if ip_layer is None or udp is None or udp.dport != CLIENT_PORT:
        raise opt.MalformedPacket("not a UDP datagram to port 68")
    start = 14 + 4 * int(ip_layer.ihl or 5) + 8
    end = min(len(unsafe), 14 + int(ip_layer.len or 0), start - 8 + int(udp.len or 0))
    return parse_payload(unsafe[start:end], src_mac=str(frame.src), src_ip=str(ip_layer.src))


def parse_payload(unsafe: bytes, *, src_mac: str = "", src_ip: str = "0.0.0.0") -> Message:
    """A BOOTP/DHCP payload (the UDP data) into a Message, or MalformedPacket."""
    if len(unsafe) < BOOTP_HEADER + len(MAGIC_COOKIE):
        raise opt.MalformedPacket(f"{len(unsafe)} bytes is too short for a DHCP message")
    if unsafe[BOOTP_HEADER : BOOTP_HEADER + 4] != MAGIC_COOKIE:
        raise opt.MalformedPacket("no DHCP magic cookie")
    try:
        bootp = _scapy()["BOOTP"](unsafe[:BOOTP_HEADER] + MAGIC_COOKIE)
        sname, file = bytes(bootp.sname), bytes(bootp.file)
        header = (int(bootp.op), int(bootp.xid), bytes(bootp.chaddr))
        addresses = (IPv4Address(bootp.ciaddr), IPv4Address(bootp.yiaddr))
        siaddr, source = IPv4Address(bootp.siaddr), IPv4Address(src_ip)
    except Exception as err:
        raise opt.MalformedPacket(f"BOOTP header does not dissect: {err}") from None
    options = opt.collect_options(unsafe[BOOTP_HEADER + 4 :], sname, file)
    return Message(*header, *addresses, siaddr, sname, file, options, src_mac, source)


@dataclass(frozen=True)
class Request:
    """What the client sends; `frame()` or `payload()` turn it into bytes."""

    type: MessageType
    xid: int
    mac: str
    secs: int = 0
    ciaddr: IPv4Address = ZERO
    requested: IPv4Address | None = None
    server_id: IPv4Address | None = None
    hostname: str | None = None
    message: str | None = None
    extra: list[tuple[int, bytes]] = field(default_factory=list)

    def option_list(self) -> list[tuple[int, bytes]]:
        mac = bytes.fromhex(self.mac.replace(":", ""))
        out = [(opt.MESSAGE_TYPE, bytes((self.type,))), (opt.CLIENT_ID, b"\x01" + mac)]
        if self.requested is not None:
            out.append((opt.REQUESTED_IP, self.requested.packed))
        if self.server_id is not None:
            out.append((opt.SERVER_ID, self.server_id.packed))
        if self.type in (MessageType.DISCOVER, MessageType.REQUEST):
            out += [
                (opt.PARAMETER_REQUEST, REQUESTED_OPTIONS),
                (opt.MAX_MESSAGE_SIZE, (1500).to_bytes(2, "big")),
                (opt.VENDOR_CLASS, VENDOR_CLASS),
            ]
            if self.hostname:
                out.append((opt.HOSTNAME, self.hostname.encode("ascii", "replace")))
        if self.message:
            out.append((opt.MESSAGE, self.message.encode("ascii", "replace")))
        return out + self.extra

    def bootp(self) -> Any:
        layers = _scapy()
        mac = bytes.fromhex(self.mac.replace(":", ""))
        header = layers["BOOTP"](
            op=1,
            htype=1,
            hlen=6,
            xid=self.xid,
            secs=min(self.secs, 0xFFFF),
            ciaddr=str(self.ciaddr),
            chaddr=mac + bytes(10),
            options=MAGIC_COOKIE,
        )
        return header / layers["Raw"](opt.encode_options(self.option_list()))

    def payload(self) -> bytes:
        return bytes(self.bootp())

    def frame(self, *, dst_mac: str = BROADCAST_MAC, dst_ip: IPv4Address = BROADCAST) -> bytes:
        layers = _scapy()
        packet = (
            layers["Ether"](src=self.mac, dst=dst_mac, type=0x0800)
            / layers["IP"](src=str(self.ciaddr), dst=str(dst_ip), ttl=64)
            / layers["UDP"](sport=CLIENT_PORT, dport=SERVER_PORT)
            / self.bootp()
        )
        return bytes(packet)
