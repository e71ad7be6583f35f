"""`metalinit disks [DEVICE|IMAGE…] [--json]`: what each disk holds and which `root=`
values would select it. Runs in the rescue shell too, so: stdlib only, plain text."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from agent.blockdev import BlockDevError
from agent.blockdev.probe import inspect
from agent.blockdev.sysblock import list_block_devices
from agent.rootspec import BlockInfo, specs_matching

COLUMNS = ("PATH", "SIZE", "PTTYPE", "TYPE", "UUID", "LABEL", "PARTUUID", "PARTLABEL", "ROOT=")
SIZE_UNITS = ("B", "K", "M", "G", "T", "P")
PROG = "metalinit disks"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="List block devices or image files and the root= specs they match.",
    )
    parser.add_argument("paths", nargs="*", metavar="DEVICE|IMAGE", help="default: every disk")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        paths = args.paths or [str(d.node(Path("/dev"))) for d in list_block_devices()]
    except BlockDevError as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        return 1
    devices: list[BlockInfo] = []
    notes: list[str] = []
    errors: dict[str, str] = {}
    for path in paths:
        try:
            found = inspect(path)
        except BlockDevError as e:
            errors[path] = str(e)
            continue
        devices.extend(found.devices)
        notes.extend(found.notes)
    if args.json:
        sys.stdout.write(_as_json(devices, notes, errors) + "\n")
    else:
        sys.stdout.write(_as_table(devices))
        for note in notes:
            sys.stderr.write(f"{PROG}: note: {note}\n")
    for message in errors.values():
        sys.stderr.write(f"{PROG}: {message}\n")
    return 1 if errors else 0


def human_size(size: int) -> str:
    """1024-based, as lsblk shows it: 512B, 32M, 1.5G."""
    value = float(size)
    for unit in SIZE_UNITS:
        if value < 1024 or unit == SIZE_UNITS[-1]:
            break
        value /= 1024
    if unit == "B" or value >= 10 or value.is_integer():
        return f"{value:.0f}{unit}"
    return f"{value:.1f}{unit}"


def _row(info: BlockInfo) -> list[str]:
    fields = (info.pttype, info.fstype, info.uuid, info.label, info.partuuid, info.partlabel)
    specs = " ".join(f'"{s}"' if " " in s else s for s in specs_matching(info))
    return [info.path, human_size(info.size), *(f or "-" for f in fields), specs or "-"]


def _as_table(devices: list[BlockInfo]) -> str:
    if not devices:
        return ""
    rows = [list(COLUMNS), *(_row(info) for info in devices)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = [
        "  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def _as_json(devices: list[BlockInfo], notes: list[str], errors: dict[str, str]) -> str:
    records = [{**dataclasses.asdict(info), "root_specs": specs_matching(info)} for info in devices]
    return json.dumps({"devices": records, "notes": notes, "errors": errors}, indent=2)
