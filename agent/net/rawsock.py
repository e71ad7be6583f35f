"""Packet sockets on one link: DHCP frames in and out, and the ARP probe of an offered address.

The DHCP socket carries a classic BPF filter (IPv4, UDP, not a fragment, port 68), attached
before the socket is bound, so the client never wakes for anything but DHCP replies.
"""

from __future__ import annotations

import ctypes
import select
import socket
import struct
import time
from collections.abc import Iterator
from ipaddress import IPv4Address

from agent.net.links import Link

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
RECV_BUFFER = 4 << 20

# (code, jt, jf, k): ldh [12]; jeq IPv4; ldb [23]; jeq UDP; ldh [20]; jset fragment;
# ldxb 4*([14]&0xf); ldh [x+16]; jeq 68; accept; drop.
DHCP_FILTER = (
    (0x28, 0, 0, 12),
    (0x15, 0, 8, ETH_P_IP),
    (0x30, 0, 0, 23),
    (0x15, 0, 6, 17),
    (0x28, 0, 0, 20),
    (0x45, 4, 0, 0x1FFF),
    (0xB1, 0, 0, 14),
    (0x48, 0, 0, 16),
    (0x15, 0, 1, 68),
    (0x06, 0, 0, 0x40000),
    (0x06, 0, 0, 0),
)


def _attach_filter(sock: socket.socket, program: tuple[tuple[int, int, int, int], ...]) -> None:
    code = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buf = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


class PacketSocket:
    """DHCP over a raw packet socket on one link."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:  # room for a burst of replies (root may exceed rmem_max)
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECV_BUFFER)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        _attach_filter(self.sock, DHCP_FILTER)
        self.sock.bind((link.name, ETH_P_IP))
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def frames(self) -> Iterator[bytes]:
        """Every frame waiting now, without blocking."""
        while True:
            try:
                yield self.sock.recv(4096)
            except OSError:  # nothing more now, or the link went down: the caller goes on
                return

    def wait(self, timeout: float) -> bool:
        return bool(select.select([self.sock], [], [], max(0.0, timeout))[0])

    def close(self) -> None:
        self.sock.close()


def arp_conflict(link: Link, address: IPv4Address, wait: float) -> str | None:
    """Probe address (RFC 5227 style); the MAC of another host using it, or None."""
    if wait <= 0:
        return None
    from agent.net.message import scapy_layers

    layers = scapy_layers()
    probe = layers["Ether"](src=link.mac, dst="ff:ff:ff:ff:ff:ff") / layers["ARP"](
        op=1, hwsrc=link.mac, psrc="0.0.0.0", hwdst="00:00:00:00:00:00", pdst=str(address)
    )
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as sock:
        sock.bind((link.name, ETH_P_ARP))
        sock.setblocking(False)
        sock.send(bytes(probe))
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            try:
                arp = layers["Ether"](sock.recv(2048)).getlayer(layers["ARP"])
            except Exception:  # a garbled frame is no answer
                continue
            if arp is None or str(arp.hwsrc).lower() == link.mac:
                continue
            if str(arp.psrc) == str(address) or (
                arp.op == 1 and str(arp.pdst) == str(address) and str(arp.psrc) == "0.0.0.0"
            ):
                return str(arp.hwsrc)
    return None
