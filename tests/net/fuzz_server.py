"""A hostile DHCP server: answers the client's DISCOVER and REQUEST with a flood of malformed
and hostile replies (built with scapy), then with the one good OFFER and ACK.

usage: fuzz_server.py IFACE COUNT SEED. Runs in the server namespace on the bridge; prints a
JSON summary (how many hostile frames of each kind it sent) when the client has its lease.
Every hostile reply is unusable by construction, so a client that takes anything but the
good lease (10.77.9.9) has accepted a bad packet.
"""

from __future__ import annotations

import json
import random
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network

from agent.net import options as opt
from agent.net.message import MessageType, parse_payload, scapy_layers
from tests.net.replies import default_options, frame, reply_payload

GOOD = "10.77.9.9"
OTHER_SERVER = "10.77.0.99"
BAD_ADDRESSES = [
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.5",
    "127.0.0.1",
    "10.77.255.255",
    "10.77.0.0",
    "169.254.3.4",
    "240.1.2.3",
]

Maker = Callable[[random.Random, int, int, str], bytes]  # rng, kind, xid, mac -> payload


def _base(kind: int, xid: int, mac: str, **kw: object) -> bytes:
    return reply_payload(kind, xid, mac, GOOD, **kw)  # type: ignore[arg-type]


def wrong_xid(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    return _base(kind, xid ^ rng.randrange(1, 1 << 32), mac)


def wrong_chaddr(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    other = ":".join(f"{rng.randrange(256):02x}" for _ in range(6))
    return _base(kind, xid, other if other != mac else "02:ee:ee:ee:ee:ee")


def truncated(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    return _base(kind, xid, mac)[: rng.randrange(0, 240)]


def no_cookie(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    data = bytearray(_base(kind, xid, mac))
    data[236 + rng.randrange(4)] ^= rng.randrange(1, 256)
    return bytes(data)


def option_past_end(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    head = opt.encode_options([(opt.MESSAGE_TYPE, bytes((kind,)))])[:-1]
    length = rng.randrange(2, 256)
    body = head + bytes((rng.randrange(1, 255), length)) + rng.randbytes(rng.randrange(length - 1))
    return _base(kind, xid, mac, raw_options=body)


def bad_type(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    value = rng.choice(
        [b"", b"\x00", b"\x09", b"\xff", b"\x02\x02", bytes((rng.randrange(9, 256),))]
    )
    body = opt.encode_options([(opt.MESSAGE_TYPE, value), (opt.SERVER_ID, b"\x0a\x4d\0\1")])
    return _base(kind, xid, mac, raw_options=body)


def no_type(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    body = opt.encode_options([(opt.SERVER_ID, b"\x0a\x4d\0\1"), *default_options()])
    return _base(kind, xid, mac, raw_options=body)


def bad_address(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    return reply_payload(kind, xid, mac, rng.choice(BAD_ADDRESSES))


def bad_netmask(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    mask = rng.choice([b"\xff\x00\xff\x00", b"\x00\xff\xff\xff", b"\xff\xff", b"\xff" * 5])
    return _base(kind, xid, mac, options=[(opt.SUBNET_MASK, mask), *default_options()[1:]])


def huge_classless(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    routes = [
        opt.Route(IPv4Network(f"10.{i}.0.0/16"), IPv4Address("10.77.0.1")) for i in range(120)
    ]
    wire = bytearray(opt.encode_classless_routes(routes))
    spot = 7 * rng.randrange(len(routes))  # each /16 route: width, 2 octets, router
    wire[spot] = rng.choice([33, 64, 255])  # one impossible width somewhere in 1 KiB of routes
    if rng.random() < 0.5:
        wire = wire[: -rng.randrange(1, 4)]  # or cut the last route short
    return _base(kind, xid, mac, options=[*default_options(), (opt.CLASSLESS_ROUTES, bytes(wire))])


def bad_overload(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    if rng.random() < 0.5:
        value = rng.choice([b"", b"\x00", b"\x04", b"\x01\x01"])
        options = [*default_options(), (opt.OVERLOAD, value)]
        return _base(kind, xid, mac, options=options)
    cut = bytes((opt.HOSTNAME, 200)) + b"x" * 20  # an option running off the file field
    options = [*default_options(), (opt.OVERLOAD, b"\x03")]
    return _base(kind, xid, mac, options=options, file=cut, sname=cut)


def random_options(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    return reply_payload(kind, xid, mac, "0.0.0.0", raw_options=rng.randbytes(rng.randrange(400)))


def junk(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    return rng.randbytes(rng.randrange(600))


def wrong_op(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    data = bytearray(_base(kind, xid, mac))
    data[0] = rng.choice([0, 1, 3, 255])
    return bytes(data)


def other_server(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    """Only while requesting: an ACK or NAK from a server the client did not choose."""
    return reply_payload(
        rng.choice([MessageType.ACK, MessageType.NAK]), xid, mac, GOOD, server=OTHER_SERVER
    )


def other_address(rng: random.Random, kind: int, xid: int, mac: str) -> bytes:
    """Only while requesting: an ACK for an address the client did not ask for."""
    return reply_payload(MessageType.ACK, xid, mac, f"10.77.8.{rng.randrange(1, 255)}")


COMMON: list[Maker] = [
    wrong_xid,
    wrong_chaddr,
    truncated,
    no_cookie,
    option_past_end,
    bad_type,
    no_type,
    bad_address,
    bad_netmask,
    huge_classless,
    bad_overload,
    random_options,
    junk,
    wrong_op,
]
REQUESTING: list[Maker] = [*COMMON, other_server, other_address]


def flood(
    sock: socket.socket,
    rng: random.Random,
    makers: list[Maker],
    kind: int,
    xid: int,
    mac: str,
    count: int,
    sent: Counter[str],
) -> None:
    for i in range(count):
        maker = rng.choice(makers)
        payload = maker(rng, kind, xid, mac)
        if rng.random() < 0.05:  # a UDP length that cuts the message short
            data = bytearray(frame(payload, mac))
            data[38:40] = (8 + rng.randrange(0, 236)).to_bytes(2, "big")
            sock.send(bytes(data))
        else:
            sock.send(frame(payload, mac))
        sent[maker.__name__] += 1
        if i % 50 == 49:
            time.sleep(0.01)  # about 3,000 frames a second: a flood, not a socket overflow


def client_messages(sock: socket.socket) -> tuple[int, int, str]:
    """The next DHCP message from a client: (type, xid, chaddr)."""
    layers = scapy_layers()
    while True:
        packet = layers["Ether"](sock.recv(4096))
        udp = packet.getlayer(layers["UDP"])
        if udp is None or udp.dport != 67:
            continue
        try:
            msg = parse_payload(bytes(udp.payload))
            return int(msg.type), msg.xid, msg.chaddr[:6].hex(":")
        except opt.MalformedPacket:
            continue


def main(argv: list[str]) -> int:
    iface, count, seed = argv[0], int(argv[1]), int(argv[2])
    rng = random.Random(seed)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    sock.bind((iface, 0x0800))
    sent: Counter[str] = Counter()
    flooded: set[str] = set()
    print("ready", flush=True)
    while True:
        kind, xid, mac = client_messages(sock)
        if kind == MessageType.DISCOVER:
            if "select" not in flooded:
                flooded.add("select")
                flood(sock, rng, COMMON, MessageType.OFFER, xid, mac, count // 2, sent)
            sock.send(frame(reply_payload(MessageType.OFFER, xid, mac, GOOD), mac))
        elif kind == MessageType.REQUEST:
            if "request" not in flooded:
                flooded.add("request")
                flood(sock, rng, REQUESTING, MessageType.ACK, xid, mac, count - count // 2, sent)
            sock.send(frame(reply_payload(MessageType.ACK, xid, mac, GOOD), mac))
            print(json.dumps({"sent": sum(sent.values()), "kinds": dict(sent)}), flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
