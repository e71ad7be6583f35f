"""DHCP options (RFC 2132, 3396, 3442, 3397): bytes in, typed values out, and back. Pure.

Every decoder here takes `unsafe` bytes from the wire and raises `MalformedPacket` with a
reason when they do not hold what the RFC says; it never reads past the end of its input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

PAD = 0
END = 255
MAX_OPTION_LENGTH = 255

# Option codes the agent reads or writes.
SUBNET_MASK = 1
ROUTER = 3
DNS_SERVERS = 6
HOSTNAME = 12
DOMAIN_NAME = 15
INTERFACE_MTU = 26
BROADCAST = 28
REQUESTED_IP = 50
LEASE_TIME = 51
OVERLOAD = 52
MESSAGE_TYPE = 53
SERVER_ID = 54
PARAMETER_REQUEST = 55
MESSAGE = 56
MAX_MESSAGE_SIZE = 57
RENEWAL_T1 = 58
REBINDING_T2 = 59
VENDOR_CLASS = 60
CLIENT_ID = 61
TFTP_SERVER = 66
BOOTFILE = 67
DOMAIN_SEARCH = 119
CLASSLESS_ROUTES = 121

# Option 52's values: which of the BOOTP fields carry more options.
OVERLOAD_FILE = 1
OVERLOAD_SNAME = 2
OVERLOAD_BOTH = 3


class MalformedPacket(ValueError):
    """A DHCP message that does not parse; the client drops it and goes on."""


@dataclass(frozen=True)
class Route:
    """One classless static route (option 121): gateway 0.0.0.0 means on-link."""

    network: IPv4Network
    gateway: IPv4Address

    def __str__(self) -> str:
        return f"{self.network} via {self.gateway}"


def decode_options(unsafe: bytes) -> list[tuple[int, bytes]]:
    """Split one options area into (code, value) pairs, in order, up to END."""
    found: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(unsafe):
        code = unsafe[pos]
        if code == END:
            return found
        if code == PAD:
            pos += 1
            continue
        if pos + 1 >= len(unsafe):
            raise MalformedPacket(f"option {code} has no length byte")
        length = unsafe[pos + 1]
        if pos + 2 + length > len(unsafe):
            raise MalformedPacket(f"option {code} claims {length} bytes past the end")
        found.append((code, unsafe[pos + 2 : pos + 2 + length]))
        pos += 2 + length
    return found


def merge_options(areas: Iterable[list[tuple[int, bytes]]]) -> dict[int, bytes]:
    """RFC 3396: an option appearing more than once is one option, its parts concatenated."""
    merged: dict[int, bytearray] = {}
    for area in areas:
        for code, value in area:
            merged.setdefault(code, bytearray()).extend(value)
    return {code: bytes(value) for code, value in merged.items()}


def collect_options(unsafe_options: bytes, sname: bytes, file: bytes) -> dict[int, bytes]:
    """The options of a message, following option 52 into the file and sname fields."""
    main = decode_options(unsafe_options)
    areas = [main]
    overload = merge_options([main]).get(OVERLOAD)
    if overload is not None:
        if len(overload) != 1 or overload[0] not in (1, 2, 3):
            raise MalformedPacket(f"option overload value {overload.hex()} is not 1, 2 or 3")
        if overload[0] & OVERLOAD_FILE:
            areas.append(decode_options(file))
        if overload[0] & OVERLOAD_SNAME:
            areas.append(decode_options(sname))
    return merge_options(areas)


def encode_options(options: Iterable[tuple[int, bytes]]) -> bytes:
    """Options area with END; values longer than 255 bytes are split (RFC 3396)."""
    out = bytearray()
    for code, value in options:
        if not value:
            out += bytes((code, 0))
        for start in range(0, len(value), MAX_OPTION_LENGTH):
            chunk = value[start : start + MAX_OPTION_LENGTH]
            out += bytes((code, len(chunk))) + chunk
    out.append(END)
    return bytes(out)


def ip(value: bytes) -> IPv4Address:
    if len(value) != 4:
        raise MalformedPacket(f"an address needs 4 bytes, not {len(value)}")
    return IPv4Address(value)


def ips(value: bytes) -> tuple[IPv4Address, ...]:
    if not value or len(value) % 4:
        raise MalformedPacket(f"an address list needs a multiple of 4 bytes, not {len(value)}")
    return tuple(IPv4Address(value[i : i + 4]) for i in range(0, len(value), 4))


def u32(value: bytes) -> int:
    if len(value) != 4:
        raise MalformedPacket(f"a 32-bit number needs 4 bytes, not {len(value)}")
    return int.from_bytes(value, "big")


def u16(value: bytes) -> int:
    if len(value) != 2:
        raise MalformedPacket(f"a 16-bit number needs 2 bytes, not {len(value)}")
    return int.from_bytes(value, "big")


def text(value: bytes) -> str:
    """NVT ASCII, trailing NULs dropped; anything unprintable makes the option bad."""
    value = value.rstrip(b"\0")
    if not value or any(b < 0x20 or b > 0x7E for b in value):
        raise MalformedPacket("text option is empty or not printable ASCII")
    return value.decode("ascii")


def classless_routes(unsafe: bytes) -> tuple[Route, ...]:
    """Option 121 (RFC 3442): width, significant octets of the destination, router."""
    routes: list[Route] = []
    pos = 0
    while pos < len(unsafe):
        width = unsafe[pos]
        if width > 32:
            raise MalformedPacket(f"classless route width {width} is over 32")
        octets = (width + 7) // 8
        end = pos + 1 + octets + 4
        if end > len(unsafe):
            raise MalformedPacket("classless route runs past the end of option 121")
        dest = bytes(unsafe[pos + 1 : pos + 1 + octets]) + bytes(4 - octets)
        gateway = IPv4Address(unsafe[end - 4 : end])
        try:
            network = IPv4Network((IPv4Address(dest), width))
        except ValueError:
            raise MalformedPacket(
                f"classless route {IPv4Address(dest)}/{width} has host bits"
            ) from None
        routes.append(Route(network, gateway))
        pos = end
    return tuple(routes)


def encode_classless_routes(routes: Iterable[Route]) -> bytes:
    out = bytearray()
    for route in routes:
        width = route.network.prefixlen
        out.append(width)
        out += route.network.network_address.packed[: (width + 7) // 8]
        out += route.gateway.packed
    return bytes(out)


def domain_list(unsafe: bytes) -> tuple[str, ...]:
    """Option 119 (RFC 3397): DNS names in wire form, with compression pointers."""
    names: list[str] = []
    pos = 0
    while pos < len(unsafe):
        name, pos = _dns_name(unsafe, pos)
        if name:
            names.append(name)
    return tuple(names)


def _dns_name(unsafe: bytes, pos: int) -> tuple[str, int]:
    labels: list[str] = []
    resume: int | None = None
    jumps = 0
    while True:
        if pos >= len(unsafe):
            raise MalformedPacket("domain search name runs past the end")
        length = unsafe[pos]
        if length == 0:
            pos += 1
            break
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(unsafe):
                raise MalformedPacket("domain search pointer is cut short")
            jumps += 1
            if jumps > 64:
                raise MalformedPacket("domain search pointers loop")
            if resume is None:
                resume = pos + 2
            pos = ((length & 0x3F) << 8) | unsafe[pos + 1]
            continue
        if length > 63 or pos + 1 + length > len(unsafe):
            raise MalformedPacket("domain search label is too long or cut short")
        labels.append(text(unsafe[pos + 1 : pos + 1 + length]))
        pos += 1 + length
    return ".".join(labels), resume if resume is not None else pos


def encode_domain_list(names: Iterable[str]) -> bytes:
    out = bytearray()
    for name in names:
        for label in name.strip(".").split("."):
            out.append(len(label))
            out += label.encode("ascii")
        out.append(0)
    return bytes(out)


def netmask_prefix(value: bytes) -> int:
    """Option 1 as a prefix length; only a contiguous mask (never a host mask) is one."""
    mask = u32(value)
    hosts = ~mask & 0xFFFFFFFF
    if hosts & (hosts + 1):
        raise MalformedPacket(f"subnet mask {IPv4Address(mask)} is not contiguous")
    return 32 - hosts.bit_length()
