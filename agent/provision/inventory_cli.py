"""`metalinit inventory [--json]`: what the worker would tell the server about this machine."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from agent.blockdev.cli import human_size
from agent.provision.inventory import collect

PROG = "metalinit inventory"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Print this machine's hardware inventory, as the worker sends it."
    )
    parser.add_argument("--json", action="store_true", help="print JSON (IPA's key names)")
    args = parser.parse_args(argv)
    inventory = collect()
    if args.json:
        sys.stdout.write(json.dumps(inventory, indent=2) + "\n")
    else:
        sys.stdout.write(as_text(inventory))
    for part, error in (inventory.get("errors") or {}).items():
        sys.stderr.write(f"{PROG}: {part}: {error}\n")
    return 1 if inventory.get("errors") else 0


def as_text(inv: dict[str, Any]) -> str:
    cpu, memory, system, boot = (
        inv.get(k) or {} for k in ("cpu", "memory", "system_vendor", "boot")
    )
    firmware = system.get("firmware") or {}
    lines = [
        f"hostname   {inv.get('hostname')}",
        f"system     {_join(system.get('manufacturer'), system.get('product_name'))}"
        f"  serial {system.get('serial_number') or '-'}",
        f"firmware   {_join(*(firmware.get(k) for k in ('vendor', 'version', 'build_date')))}"
        f"  boot {boot.get('current_boot_mode')}, pxe {boot.get('pxe_interface') or '-'}",
        f"cpu        {cpu.get('count')} x {cpu.get('model_name')} ({cpu.get('architecture')}, "
        f"{cpu.get('frequency') or '?'} MHz, {len(cpu.get('flags') or [])} flags)",
        f"memory     {human_size(memory.get('total') or 0)} usable, "
        f"{memory.get('physical_mb')} MiB installed",
    ]
    for disk in inv.get("disks") or []:
        lines.append(
            f"disk       {disk['name']}  {human_size(disk['size'])}  "
            f"{'rotational' if disk['rotational'] else 'solid-state'}  "
            f"{_join(disk['vendor'], disk['model'])}  serial {disk['serial'] or '-'}  "
            f"wwn {disk['wwn'] or '-'}  {disk['by_path'] or ''}".rstrip()
        )
    for nic in inv.get("interfaces") or []:
        speed = f"{nic['speed_mbps']} Mb/s" if nic["speed_mbps"] else "speed ?"
        lines.append(
            f"interface  {nic['name']}  {nic['mac_address']}  {nic['ipv4_address'] or '-'}  "
            f"{'carrier' if nic['carrier'] else 'no carrier'}, {speed}  "
            f"driver {nic['driver'] or '-'} ({_join(nic['vendor'], nic['product'])})"
        )
    return "\n".join(lines) + "\n"


def _join(*parts: Any) -> str:
    return " ".join(str(p) for p in parts if p) or "-"
