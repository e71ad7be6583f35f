"""A DHCP client that asks as a PXE ROM or iPXE would, for the dnsmasq tests: it sends one
DISCOVER with the options firmware sends (vendor class `PXEClient:Arch:…`, client
architecture, iPXE's user class) and prints every OFFER that comes back as JSON.

Run inside a client namespace: `python -m tests.netboot.pxe_client IFACE MAC [--arch N]
[--ipxe] [--plain] [--seconds S]`. The frames are built by scapy and the replies read by
the agent's own DHCP parser; the packet socket is the agent's too.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import time

from agent.net import options as opt
from agent.net.message import MAGIC_COOKIE, parse_frame, scapy_layers

PXE_VENDOR = "PXEClient:Arch:{arch:05d}:UNDI:003016"
SETTLE_SECONDS = 1.0


def discover(mac: str, xid: int, arch: int | None, ipxe: bool, plain: bool) -> bytes:
    layers = scapy_layers()
    chaddr = bytes.fromhex(mac.replace(":", ""))
    options: list[tuple[int, bytes]] = [(opt.MESSAGE_TYPE, b"\x01")]
    if not plain:
        vendor = PXE_VENDOR.format(arch=arch if arch is not None else 0)
        options.append((opt.VENDOR_CLASS, vendor.encode()))
    if arch is not None:
        options.append((93, arch.to_bytes(2, "big")))
    if ipxe:
        options.append((77, b"iPXE"))
    options.append((opt.PARAMETER_REQUEST, bytes((1, 3, 43, 60, 66, 67))))
    body = layers["BOOTP"](op=1, htype=1, hlen=6, xid=xid, flags=0x8000,
                           chaddr=chaddr + bytes(10), options=MAGIC_COOKIE)  # fmt: skip
    frame = (
        layers["Ether"](src=mac, dst="ff:ff:ff:ff:ff:ff", type=0x0800)
        / layers["IP"](src="0.0.0.0", dst="255.255.255.255")
        / layers["UDP"](sport=68, dport=67)
        / body
        / layers["Raw"](opt.encode_options(options))
    )
    return bytes(frame)


def offers(iface: str, frame: bytes, xid: int, seconds: float) -> list[dict[str, object]]:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    sock.bind((iface, 0x0800))
    sock.settimeout(0.2)
    found: list[dict[str, object]] = []
    seen: set[str] = set()
    end = time.monotonic() + seconds
    resend = settle = 0.0
    while time.monotonic() < end:
        if found and time.monotonic() > settle:
            break
        if not found and time.monotonic() >= resend:  # as firmware does, until one answers
            sock.send(frame)
            resend = time.monotonic() + 1.0
        try:
            raw = sock.recv(4096)
        except TimeoutError:
            continue
        try:
            msg = parse_frame(raw)
        except opt.MalformedPacket:
            continue
        if msg.op != 2 or msg.xid != xid or str(msg.server_id) in seen:
            continue  # one offer per server: each DISCOVER sent again is answered again
        seen.add(str(msg.server_id))
        if not found:
            settle = time.monotonic() + SETTLE_SECONDS  # other servers' offers come soon
        found.append(
            {
                "server": str(msg.server_id),
                "yiaddr": str(msg.yiaddr),
                "siaddr": str(msg.siaddr),
                "file": msg.file.split(b"\0", 1)[0].decode(errors="replace"),
                "bootfile": msg.options.get(opt.BOOTFILE, b"")
                .rstrip(b"\0")
                .decode(errors="replace"),
                "vendor_class": msg.options.get(opt.VENDOR_CLASS, b"").decode(errors="replace"),
                "pxe_options": msg.options.get(43, b"").hex(),
            }
        )
    return found


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("iface")
    p.add_argument("mac")
    p.add_argument("--arch", type=int)
    p.add_argument("--ipxe", action="store_true")
    p.add_argument("--plain", action="store_true", help="an ordinary client: no PXE options")
    p.add_argument("--seconds", type=float, default=8.0)
    args = p.parse_args()
    xid = random.getrandbits(32)
    frame = discover(args.mac, xid, args.arch, args.ipxe, args.plain)
    print(json.dumps(offers(args.iface, frame, xid, args.seconds)))


if __name__ == "__main__":
    main()
