"""What this machine is, for the lookup and for `metalinit inventory`, with
ironic-python-agent's key names so tools that read IPA's inventory read ours:

    cpu            model_name, count, architecture, flags, frequency (MHz)
    memory         total (bytes, what the kernel manages), physical_mb (installed)
    disks          name, model, size, rotational, wwn, serial, vendor, hctl, by_path
    interfaces     name, mac_address, ipv4_address, vendor, product, speed_mbps, carrier, driver
    system_vendor  product_name, serial_number, manufacturer, firmware {vendor, version, build_date}
    boot           current_boot_mode (uefi | bios), pxe_interface (a MAC)
    hostname

Read from /proc and /sys only (pyudev for disks where udev keeps a database), so it works
in the initramfs. A part that cannot be read is None, and `errors` says why.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.provision.inventory_disks import UDEV_DATA, disks
from agent.provision.inventory_nics import interfaces

MIB = 1024 * 1024
DMI = "class/dmi/id"


@dataclass(frozen=True)
class Roots:
    sys: Path = Path("/sys")
    proc: Path = Path("/proc")
    udev_data: Path = UDEV_DATA


def collect(roots: Roots = Roots(), *, boot_mac: str | None = None) -> dict[str, Any]:
    parts: dict[str, Callable[[], Any]] = {
        "cpu": lambda: cpu(_read(roots.proc / "cpuinfo"), roots.sys),
        "memory": lambda: memory(_read(roots.proc / "meminfo"), roots.sys),
        "disks": lambda: disks(roots.sys, roots.udev_data),
        "interfaces": lambda: interfaces(roots.sys),
        "system_vendor": lambda: system_vendor(roots.sys),
        "boot": lambda: boot(roots, boot_mac),
        "hostname": socket.gethostname,
    }
    found: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, read in parts.items():
        try:
            found[key] = read()
        except (OSError, ValueError) as err:
            found[key] = None
            errors[key] = f"{type(err).__name__}: {err}"
    if errors:
        found["errors"] = errors
    return found


def lookup_macs(inventory: dict[str, Any]) -> tuple[str, ...]:
    return tuple(nic["mac_address"] for nic in inventory.get("interfaces") or ())


def _read(path: Path) -> str:
    return path.read_text(errors="replace")


def cpuinfo_fields(text: str) -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per processor."""
    blocks: list[dict[str, str]] = []
    for block in text.strip().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, colon, value = line.partition(":")
            if colon:
                fields[key.strip().lower()] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def cpu(cpuinfo: str, sys_root: Path) -> dict[str, Any]:
    blocks = cpuinfo_fields(cpuinfo)
    first = blocks[0] if blocks else {}
    model = first.get("model name") or first.get("cpu model") or first.get("processor")
    flags = first.get("flags") or first.get("features") or ""
    return {
        "model_name": model,
        "count": sum(1 for b in blocks if "processor" in b) or os.cpu_count(),
        "architecture": os.uname().machine,
        "flags": flags.split(),
        "frequency": _frequency(first, sys_root),
    }


def _frequency(first: dict[str, str], sys_root: Path) -> int | None:
    """The highest clock in MHz: cpufreq's maximum, else what /proc/cpuinfo shows now."""
    try:
        khz = (sys_root / "devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()
        return int(khz) // 1000
    except (OSError, ValueError):
        pass
    try:
        return round(float(first["cpu mhz"]))
    except (KeyError, ValueError):
        return None


def memory(meminfo: str, sys_root: Path) -> dict[str, Any]:
    total_kib = next(
        int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")
    )
    return {"total": total_kib * 1024, "physical_mb": _physical_mb(sys_root) or total_kib // 1024}


def _physical_mb(sys_root: Path) -> int | None:
    """Installed memory: the online memory blocks of /sys/devices/system/memory (what the
    firmware handed the kernel, before the kernel keeps its share)."""
    base = sys_root / "devices/system/memory"
    try:
        block = int((base / "block_size_bytes").read_text(), 16)
        online = sum(
            1 for entry in base.glob("memory*") if (entry / "online").read_text().strip() == "1"
        )
    except (OSError, ValueError):
        return None
    return block * online // MIB or None


def system_vendor(sys_root: Path) -> dict[str, Any]:
    def dmi(name: str) -> str | None:
        try:
            return (sys_root / DMI / name).read_text().strip() or None
        except OSError:  # no DMI (many VMs, ARM boards), or root-only (product_serial)
            return None

    return {
        "product_name": dmi("product_name"),
        "serial_number": dmi("product_serial"),
        "manufacturer": dmi("sys_vendor"),
        "firmware": {
            "vendor": dmi("bios_vendor"),
            "version": dmi("bios_version"),
            "build_date": dmi("bios_date"),
        },
    }


def boot(roots: Roots, boot_mac: str | None) -> dict[str, Any]:
    mode = "uefi" if (roots.sys / "firmware/efi").is_dir() else "bios"
    return {"current_boot_mode": mode, "pxe_interface": _bootif(roots.proc) or boot_mac}


def _bootif(proc: Path) -> str | None:
    """pxelinux's and iPXE's BOOTIF=01-aa-bb-cc-dd-ee-ff: the NIC the machine booted from."""
    try:
        args = (proc / "cmdline").read_text().split()
    except OSError:
        return None
    for arg in args:
        if arg.startswith("BOOTIF="):
            value = arg[len("BOOTIF=") :].lower()
            parts = value.split("-")
            return ":".join(parts[1:] if len(parts) == 7 else parts)
    return None
