"""A server's side of DHCP, for tests and the fuzzer: replies built with scapy."""

from __future__ import annotations

from ipaddress import IPv4Address

from agent.net import options as opt
from agent.net.message import MAGIC_COOKIE, scapy_layers

SERVER_MAC = "02:00:00:00:00:fe"
SERVER_IP = "10.77.0.1"


def reply_payload(
    kind: int,
    xid: int,
    chaddr: str,
    yiaddr: str = "10.77.1.50",
    options: list[tuple[int, bytes]] | None = None,
    *,
    server: str = SERVER_IP,
    sname: bytes = b"",
    file: bytes = b"",
    raw_options: bytes | None = None,
) -> bytes:
    layers = scapy_layers()
    opts = [(opt.MESSAGE_TYPE, bytes((kind,))), (opt.SERVER_ID, IPv4Address(server).packed)]
    opts += options if options is not None else default_options()
    body = raw_options if raw_options is not None else opt.encode_options(opts)
    mac = bytes.fromhex(chaddr.replace(":", ""))
    bootp = layers["BOOTP"](
        op=2,
        xid=xid,
        yiaddr=yiaddr,
        siaddr=server,
        chaddr=mac + bytes(10),
        sname=sname,
        file=file,
        options=MAGIC_COOKIE,
    )
    return bytes(bootp / layers["Raw"](body))


def default_options() -> list[tuple[int, bytes]]:
    return [
        (opt.SUBNET_MASK, IPv4Address("255.255.0.0").packed),
        (opt.ROUTER, IPv4Address(SERVER_IP).packed),
        (opt.LEASE_TIME, (600).to_bytes(4, "big")),
    ]


def frame(
    payload: bytes,
    dst_mac: str,
    *,
    src_mac: str = SERVER_MAC,
    src_ip: str = SERVER_IP,
    dst_ip: str = "255.255.255.255",
) -> bytes:
    layers = scapy_layers()
    packet = (
        layers["Ether"](src=src_mac, dst=dst_mac)
        / layers["IP"](src=src_ip, dst=dst_ip)
        / layers["UDP"](sport=67, dport=68)
        / layers["Raw"](payload)
    )
    return bytes(packet)
