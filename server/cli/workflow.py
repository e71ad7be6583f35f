"""`metalinit workflow create|list|show|logs|retry|watch|rm`. Every ID is a workflow's
id (wf-…) or, for one applied from a Workflow object, its metadata.name."""

from __future__ import annotations

import argparse
import json
import sys

from rich.table import Table

from server.cli.client import ClientError
from server.cli.common import client_options, connect, console, duration, run, when
from server.cli.watch import render, watch


def parser() -> argparse.ArgumentParser:
    common = client_options()
    p = argparse.ArgumentParser(prog="metalinit workflow", description=__doc__)
    sub = p.add_subparsers(dest="verb", required=True)
    create = sub.add_parser("create", parents=[common], help="render a template for machines")
    create.add_argument("--template", required=True, metavar="NAME")
    create.add_argument(
        "--hardware",
        action="append",
        required=True,
        metavar="KEY=VALUE",
        help="a hardware map entry, e.g. device_1=MAC (repeat for more)",
    )
    create.add_argument(
        "--ref",
        metavar="HARDWARE",
        help="whose record templates see as .Hardware (default: device_1's)",
    )
    create.add_argument("--name", help="a name to know it by besides its id")
    create.add_argument(
        "--keep-netboot",
        action="store_true",
        help="leave the machine's netboot on after the workflow succeeds (default: off, so "
        "it boots its disk next time)",
    )
    sub.add_parser("list", parents=[common], help="list workflows").add_argument(
        "--json", action="store_true"
    )
    show = sub.add_parser("show", parents=[common], help="a workflow and its actions")
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true")
    logs = sub.add_parser("logs", parents=[common], help="the actions' output")
    logs.add_argument("id", metavar="ID")
    logs.add_argument("action", nargs="?", metavar="ACTION")
    retry = sub.add_parser("retry", parents=[common], help="run a failed workflow again")
    retry.add_argument("id", metavar="ID")
    retry.add_argument(
        "--from",
        dest="from_action",
        metavar="ACTION",
        help="from this action (default: the one that failed)",
    )
    watching = sub.add_parser("watch", parents=[common], help="follow it live until it ends")
    watching.add_argument("id", metavar="ID")
    watching.add_argument("--interval", type=float, default=1.0, metavar="S")
    rm = sub.add_parser("rm", parents=[common], help="remove a workflow")
    rm.add_argument("id", metavar="ID")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    return run(f"metalinit workflow {args.verb}", lambda: VERBS[args.verb](args))


def hardware_map(entries: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep or not key or not value:
            raise ClientError(f"--hardware {entry!r}: expected KEY=VALUE, e.g. device_1=MAC")
        found[key] = value
    return found


def _create(args: argparse.Namespace) -> int:
    view = connect(args).create_workflow(
        args.template,
        hardware_map(args.hardware),
        hardware=args.ref,
        name=args.name,
        toggle_allow_netboot=not args.keep_netboot,
    )
    print(f"workflow for {view['hardware']}: {len(view['actions'])} actions")
    print(view["id"])
    return 0


def _list(args: argparse.Namespace) -> int:
    rows = connect(args).workflows()
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    table = Table(box=None)
    for column in ("id", "name", "template", "hardware", "state", "created", "message"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["id"],
            r["name"] or "-",
            r["template"],
            r["hardware"],
            r["state"],
            when(r["created_at"]),
            r["message"][:60],
        )
    console().print(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    view = connect(args).workflow(args.id)
    if args.json:
        json.dump(view, sys.stdout, indent=2)
        print()
        return 0
    console().print(render(view))
    started, stopped = view["started_at"], view["stopped_at"]
    took = (stopped or view["server_time"]) - started if started else None
    print(
        f"template {view['template']}, hardware {view['hardware']}, "
        f"global_timeout {view['global_timeout']}s, started {when(started)}, "
        f"took {duration(took)}"
    )
    return 0


def _logs(args: argparse.Namespace) -> int:
    lines = connect(args).all_logs(args.id, args.action)
    for line in lines:
        sys.stdout.write(f"[{line['task']}/{line['action']} #{line['attempt']}] {line['text']}\n")
    return 0


def _retry(args: argparse.Namespace) -> int:
    view = connect(args).retry(args.id, args.from_action)
    print(f"workflow {view['id']} {view['state']}: {view['message']}")
    return 0


def _watch(args: argparse.Namespace) -> int:
    return watch(connect(args), args.id, args.interval)


def _rm(args: argparse.Namespace) -> int:
    print(f"removed workflow {connect(args).remove_workflow(args.id)['deleted']}")
    return 0


VERBS = {
    "create": _create,
    "list": _list,
    "show": _show,
    "logs": _logs,
    "retry": _retry,
    "watch": _watch,
    "rm": _rm,
}
