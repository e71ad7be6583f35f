"""The pure DHCP codec: option areas, overload, concatenation, 121, 119 (tables)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from agent.net import options as opt
from agent.net.options import MalformedPacket, Route


@pytest.mark.parametrize(
    ("area", "expected"),
    [
        (b"\xff", []),
        (b"", []),
        (b"\x00\x00\x35\x01\x02\xff", [(53, b"\x02")]),
        (b"\x03\x04\x0a\x00\x00\x01\x06\x00\xff\x01\x01\x01", [(3, b"\n\0\0\1"), (6, b"")]),
        (b"\x0c\x03abc", [(12, b"abc")]),  # no END: the area simply ends
    ],
)
def test_decode_options(area: bytes, expected: list[tuple[int, bytes]]) -> None:
    assert opt.decode_options(area) == expected


@pytest.mark.parametrize("area", [b"\x35", b"\x35\x02\x01", b"\x0c\xff" + b"a" * 10])
def test_truncated_options_are_malformed(area: bytes) -> None:
    with pytest.raises(MalformedPacket):
        opt.decode_options(area)


def test_long_option_is_split_and_concatenated_again() -> None:
    value = bytes(range(256)) * 3
    area = opt.encode_options([(opt.CLASSLESS_ROUTES, value), (opt.ROUTER, b"\1\2\3\4")])
    assert area.count(bytes((opt.CLASSLESS_ROUTES, 255))) == 3
    merged = opt.merge_options([opt.decode_options(area)])
    assert merged[opt.CLASSLESS_ROUTES] == value
    assert merged[opt.ROUTER] == b"\1\2\3\4"


@pytest.mark.parametrize(
    ("overload", "in_file", "in_sname"),
    [(1, True, False), (2, False, True), (3, True, True)],
)
def test_overload_reads_file_and_sname(overload: int, in_file: bool, in_sname: bool) -> None:
    main = opt.encode_options([(opt.OVERLOAD, bytes((overload,))), (opt.HOSTNAME, b"ab")])
    file = opt.encode_options([(opt.HOSTNAME, b"cd"), (opt.DNS_SERVERS, b"\1\1\1\1")])
    sname = opt.encode_options([(opt.DOMAIN_NAME, b"lab")])
    merged = opt.collect_options(main, sname.ljust(64, b"\0"), file.ljust(128, b"\0"))
    assert merged[opt.HOSTNAME] == (b"abcd" if in_file else b"ab")
    assert (opt.DNS_SERVERS in merged) is in_file
    assert (opt.DOMAIN_NAME in merged) is in_sname


@pytest.mark.parametrize("value", [b"", b"\x00", b"\x04", b"\x01\x02"])
def test_bad_overload_value(value: bytes) -> None:
    with pytest.raises(MalformedPacket):
        opt.collect_options(opt.encode_options([(opt.OVERLOAD, value)]), b"", b"")


def r(net: str, gw: str) -> Route:
    return Route(IPv4Network(net), IPv4Address(gw))


@pytest.mark.parametrize(
    ("wire", "routes"),
    [  # RFC 3442's examples, and the default route
        (b"\x00\x0a\x00\x00\x01", [r("0.0.0.0/0", "10.0.0.1")]),
        (b"\x08\x0a\x0a\x00\x00\x01", [r("10.0.0.0/8", "10.0.0.1")]),
        (b"\x18\x0a\x11\x00\x0a\x00\x00\x01", [r("10.17.0.0/24", "10.0.0.1")]),
        (b"\x20\x0a\x11\x00\x01\x00\x00\x00\x00", [r("10.17.0.1/32", "0.0.0.0")]),
        (b"\x19\x0a\x11\x00\x80\x0a\x00\x00\x01", [r("10.17.0.128/25", "10.0.0.1")]),
    ],
)
def test_classless_routes(wire: bytes, routes: list[Route]) -> None:
    assert list(opt.classless_routes(wire)) == routes
    assert opt.encode_classless_routes(routes) == wire


@pytest.mark.parametrize(
    "wire",
    [b"\x21\x0a\x00\x00\x00\x01\x02\x03\x04", b"\x18\x0a\x11", b"\x08\x0a\x0a\x00", b"\x08\x0b"],
)
def test_bad_classless_routes(wire: bytes) -> None:
    with pytest.raises(MalformedPacket):
        opt.classless_routes(wire)


def test_domain_search_with_compression() -> None:
    # RFC 3397's example: eng.apple.com, marketing.apple.com (pointer to offset 4).
    wire = b"\x03eng\x05apple\x03com\x00\x09marketing\xc0\x04"
    assert opt.domain_list(wire) == ("eng.apple.com", "marketing.apple.com")
    plain = opt.encode_domain_list(["a.example", "b.example"])
    assert opt.domain_list(plain) == ("a.example", "b.example")


@pytest.mark.parametrize("wire", [b"\xc0\x00", b"\x05abc", b"\x03abc", b"\xc0"])
def test_bad_domain_search(wire: bytes) -> None:
    with pytest.raises(MalformedPacket):
        opt.domain_list(wire)


@pytest.mark.parametrize(
    ("decode", "value"),
    [
        (opt.ip, b"\1\2\3"),
        (opt.ips, b""),
        (opt.ips, b"\1\2\3\4\5"),
        (opt.u32, b"\0\0"),
        (opt.u16, b"\0"),
        (opt.text, b"\x01bad"),
        (opt.netmask_prefix, b"\xff\x00\xff\x00"),
        (opt.netmask_prefix, b"\x00\xff\xff\xff"),  # a host mask, not a netmask
        (opt.netmask_prefix, b"\x00\x00\x00\xff"),
    ],
)
def test_typed_decoders_refuse_bad_values(decode: object, value: bytes) -> None:
    with pytest.raises(MalformedPacket):
        decode(value)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("mask", "prefix"),
    [("0.0.0.0", 0), ("255.0.0.0", 8), ("255.255.252.0", 22), ("255.255.255.255", 32)],
)
def test_netmask_prefix(mask: str, prefix: int) -> None:
    assert opt.netmask_prefix(IPv4Address(mask).packed) == prefix
