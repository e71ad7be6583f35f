"""The `interfaces` part of the inventory, from sysfs and one ioctl per interface.

Every interface but loopback that has a hardware address is listed (its MAC is what the
worker looks the machine up by); interfaces on a real bus (a `device` link in sysfs) come
first. IPA's keys: name, mac_address, ipv4_address, vendor and product (the PCI or virtio
IDs, "0x8086"), speed_mbps (None when the link is down or the driver does not say),
carrier, driver.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from pathlib import Path
from typing import Any

from agent.provision.sysfs import SysDevice

SIOCGIFADDR = 0x8915
NO_ADDRESS = "00:00:00:00:00:00"


def interfaces(sys_root: Path = Path("/sys")) -> list[dict[str, Any]]:
    try:
        names = sorted(os.listdir(sys_root / "class" / "net"))
    except OSError:
        return []
    records = []
    for name in names:
        net = SysDevice.of_class(sys_root, "net", name)
        mac = net.attr("address") if net is not None else None
        if net is None or name == "lo" or not mac or mac == NO_ADDRESS:
            continue
        records.append(_record(net, mac))
    return sorted(records, key=lambda r: r["driver"] is None)  # on a bus first; stable


def _record(net: SysDevice, mac: str) -> dict[str, Any]:
    bus = net.path / "device"
    device = SysDevice(bus.resolve(), net.top) if bus.exists() else None
    speed = _number(net.attr("speed"))
    return {
        "name": net.sysname,
        "mac_address": mac.lower(),
        "ipv4_address": ipv4_address(net.sysname),
        "vendor": device.attr("vendor") if device else None,
        "product": device.attr("device") if device else None,
        "speed_mbps": speed if speed is not None and speed > 0 else None,
        "carrier": net.attr("carrier") == "1",
        "driver": device.link_name("driver") if device else None,
    }


def _number(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def ipv4_address(name: str) -> str | None:
    """The interface's primary IPv4 address, as SIOCGIFADDR gives it (no netlink needed)."""
    request = struct.pack("256s", name.encode()[:15])
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            answer = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
    except OSError:  # no address, or no such interface any more
        return None
    return socket.inet_ntoa(answer[20:24])
