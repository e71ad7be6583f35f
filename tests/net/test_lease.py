"""From a server's reply to a lease record: checks, route choice, JSON round trip."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from agent.net import options as opt
from agent.net.lease import Lease, from_ack
from agent.net.message import MessageType, Request, parse_frame, parse_payload
from agent.net.options import MalformedPacket, Route
from tests.net.replies import default_options, frame, reply_payload

MAC = "02:00:00:00:00:01"


def ack(yiaddr: str = "10.77.1.50", extra: list[tuple[int, bytes]] | None = None) -> Lease:
    payload = reply_payload(MessageType.ACK, 7, MAC, yiaddr, default_options() + (extra or []))
    return from_ack(parse_payload(payload), "eth0", MAC, 0.0)


def test_plain_ack() -> None:
    lease = ack()
    assert lease.interface_address.with_prefixlen == "10.77.1.50/16"
    assert lease.gateway == IPv4Address("10.77.0.1")
    assert (lease.lease_time, lease.t1, lease.t2) == (600, 300, 525)
    assert lease.server_id == IPv4Address("10.77.0.1")


def test_classless_routes_replace_the_router_option() -> None:
    routes = [
        Route(IPv4Network("0.0.0.0/0"), IPv4Address("10.77.0.254")),
        Route(IPv4Network("192.168.5.0/24"), IPv4Address("10.77.0.2")),
    ]
    lease = ack(extra=[(opt.CLASSLESS_ROUTES, opt.encode_classless_routes(routes))])
    assert lease.routes == tuple(routes)
    assert lease.gateway == IPv4Address("10.77.0.254")


def test_dns_search_mtu_hostname() -> None:
    lease = ack(
        extra=[
            (opt.DNS_SERVERS, IPv4Address("10.77.0.53").packed + IPv4Address("9.9.9.9").packed),
            (opt.DOMAIN_SEARCH, opt.encode_domain_list(["a.example", "b.example"])),
            (opt.DOMAIN_NAME, b"lab.example"),
            (opt.INTERFACE_MTU, (1400).to_bytes(2, "big")),
            (opt.HOSTNAME, b"node7"),
        ]
    )
    assert [str(a) for a in lease.dns] == ["10.77.0.53", "9.9.9.9"]
    assert lease.search == ("a.example", "b.example")
    assert (lease.domain, lease.mtu, lease.hostname) == ("lab.example", 1400, "node7")
    assert Lease.from_json(lease.to_json()) == lease


@pytest.mark.parametrize(
    "yiaddr", ["0.0.0.0", "255.255.255.255", "224.0.0.1", "127.0.0.1", "10.77.255.255", "10.77.0.0"]
)
def test_unusable_addresses_are_refused(yiaddr: str) -> None:
    with pytest.raises(MalformedPacket):
        ack(yiaddr)


def test_broken_routing_option_drops_the_message() -> None:
    with pytest.raises(MalformedPacket):
        ack(extra=[(opt.CLASSLESS_ROUTES, b"\x21\x0a")])


def test_bad_optional_option_is_ignored() -> None:
    assert ack(extra=[(opt.HOSTNAME, b"\x00\x01")]).hostname is None


def test_frame_parse_checks_port_and_reads_source() -> None:
    payload = reply_payload(MessageType.OFFER, 9, MAC)
    msg = parse_frame(frame(payload, MAC))
    assert (msg.xid, msg.type, msg.src_mac) == (9, MessageType.OFFER, "02:00:00:00:00:fe")
    with pytest.raises(MalformedPacket):
        parse_frame(frame(payload, MAC)[:100])


def test_request_round_trips_through_the_parser() -> None:
    req = Request(
        MessageType.REQUEST,
        0x1234,
        MAC,
        requested=IPv4Address("10.77.1.9"),
        server_id=IPv4Address("10.77.0.1"),
        hostname="n1",
    )
    options = opt.collect_options(req.payload()[240:], b"", b"")
    assert options[opt.REQUESTED_IP] == IPv4Address("10.77.1.9").packed
    assert options[opt.CLIENT_ID] == b"\x01" + bytes.fromhex(MAC.replace(":", ""))
    assert opt.CLASSLESS_ROUTES in options[opt.PARAMETER_REQUEST]
