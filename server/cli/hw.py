"""`metalinit hw add|list|show|rm|netboot`: the machines the server knows, and the unknown MACs
that asked (`hw list --unknown`), so an operator can adopt them with `hw add`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.table import Table

from server.cli.client import ClientError
from server.cli.common import client_options, connect, console, read_text, run, when


def parser() -> argparse.ArgumentParser:
    common = client_options()
    p = argparse.ArgumentParser(prog="metalinit hw", description=__doc__)
    sub = p.add_subparsers(dest="verb", required=True)
    add = sub.add_parser("add", parents=[common], help="add a machine")
    add.add_argument("--mac", action="append", required=True, help="a MAC (repeat for more)")
    add.add_argument("--name", help="its name (default: the first MAC, with dashes)")
    add.add_argument("--disk", action="append", default=[], help="a disk, e.g. /dev/sda")
    add.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a free-form label (repeat for more)",
    )
    add.add_argument("--user-data", metavar="FILE", help="cloud-init user-data for it")
    add.add_argument("--no-netboot", action="store_true", help="do not allow it to netboot")
    add.add_argument("--replace", action="store_true", help="replace a record of that name")
    listing = sub.add_parser("list", parents=[common], help="list machines")
    listing.add_argument("--unknown", action="store_true", help="unknown MACs that looked up")
    listing.add_argument("--json", action="store_true")
    show = sub.add_parser("show", parents=[common], help="one machine, by name or MAC")
    show.add_argument("key", metavar="NAME|MAC")
    show.add_argument("--json", action="store_true")
    rm = sub.add_parser("rm", parents=[common], help="remove a machine")
    rm.add_argument("key", metavar="NAME|MAC")
    netboot = sub.add_parser("netboot", parents=[common], help="let it netboot, or not")
    netboot.add_argument("key", metavar="NAME|MAC")
    netboot.add_argument("state", choices=("on", "off"))
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    return run(f"metalinit hw {args.verb}", lambda: VERBS[args.verb](args))


def _add(args: argparse.Namespace) -> int:
    client = connect(args)
    name = args.name or args.mac[0].lower().replace(":", "-")
    if not args.replace:
        try:
            client.hardware(name)
        except ClientError as err:
            if err.status != 404:
                raise
        else:
            raise ClientError(f"hardware {name!r} exists; --replace replaces it")
    user_data = read_text(args.user_data) if args.user_data else ""
    labels = {}
    for entry in args.label:
        key, sep, value = entry.partition("=")
        if not sep or not key:
            raise ClientError(f"--label {entry!r}: expected KEY=VALUE")
        labels[key] = value
    view = client.put_hardware(
        name,
        macs=args.mac,
        disks=args.disk,
        user_data=user_data,
        labels=labels,
        allow_netboot=not args.no_netboot,
    )
    print(f"hardware {view['name']}: {' '.join(view['macs'])}")
    return 0


def _list(args: argparse.Namespace) -> int:
    client = connect(args)
    rows = client.unknown() if args.unknown else client.hardware_list()
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    table = Table(box=None)
    if args.unknown:
        for column in ("MAC", "all MACs", "address", "lookups", "first seen", "last seen"):
            table.add_column(column)
        for r in rows:
            table.add_row(
                r["mac"],
                " ".join(r["macs"]),
                r["address"] or "-",
                str(r["lookups"]),
                when(r["first_seen"]),
                when(r["last_seen"]),
            )
    else:
        for column in ("name", "MACs", "disks", "netboot", "address", "last seen"):
            table.add_column(column)
        for r in rows:
            table.add_row(
                r["name"],
                " ".join(r["macs"]),
                " ".join(r["disks"]) or "-",
                "yes" if r["allow_netboot"] else "no",
                r["address"] or "-",
                when(r["last_seen_at"]),
            )
    console().print(table)
    return 0


def _inventory_lines(inventory: dict[str, Any] | None) -> list[str]:
    if not inventory:
        return []
    lines = []
    for key, value in sorted(inventory.items()):
        text = json.dumps(value, sort_keys=True)
        lines.append(f"  {key}: {text if len(text) < 100 else text[:97] + '...'}")
    return ["inventory:", *lines]


def _show(args: argparse.Namespace) -> int:
    view = connect(args).hardware(args.key)
    if args.json:
        json.dump(view, sys.stdout, indent=2)
        print()
        return 0
    print(f"name: {view['name']}")
    print(f"macs: {' '.join(view['macs'])}")
    print(f"disks: {' '.join(view['disks']) or '-'}")
    print(f"netboot: {'allowed' if view['allow_netboot'] else 'not allowed'}")
    labels = " ".join(f"{k}={v}" for k, v in sorted(view["labels"].items()))
    print(f"labels: {labels or '-'}")
    print(f"address: {view['address'] or '-'} (last lookup)")
    print(f"last seen: {when(view['last_seen_at'])}")
    print(f"agent: {view['agent_version'] or '-'}")
    for line in _inventory_lines(view["inventory"]):
        print(line)
    return 0


def _rm(args: argparse.Namespace) -> int:
    print(f"removed hardware {connect(args).remove_hardware(args.key)['deleted']}")
    return 0


def _netboot(args: argparse.Namespace) -> int:
    view = connect(args).set_netboot(args.key, args.state == "on")
    state = "on: it boots the agent when it has a workflow" if view["allow_netboot"] else "off"
    print(f"hardware {view['name']}: netboot {state}")
    return 0


VERBS = {"add": _add, "list": _list, "show": _show, "rm": _rm, "netboot": _netboot}
