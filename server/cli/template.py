"""`metalinit template add|list|show|rm` and `metalinit apply -f FILE.yaml`.

A template file is Tinkerbell's template YAML as it is (`version`, `name`,
`global_timeout`, `tasks`); `apply` takes Tinkerbell's own objects (`kind: Hardware`,
`Template`, `Workflow`, apiVersion tinkerbell.org/v1alpha1), several per file."""

from __future__ import annotations

import argparse
import json
import re
import sys

from rich.table import Table

from server.cli.client import ClientError
from server.cli.common import client_options, connect, console, read_text, run, when

_OBJECT_HEADER = re.compile(r"^(apiVersion|kind):", re.MULTILINE)


def parser() -> argparse.ArgumentParser:
    common = client_options()
    p = argparse.ArgumentParser(prog="metalinit template", description=__doc__)
    sub = p.add_subparsers(dest="verb", required=True)
    add = sub.add_parser("add", parents=[common], help="add or replace a template")
    add.add_argument("file", metavar="FILE.yaml", help="the template ('-': standard input)")
    add.add_argument("--name", help="store it under this name (default: its own `name`)")
    listing = sub.add_parser("list", parents=[common], help="list templates")
    listing.add_argument("--json", action="store_true")
    show = sub.add_parser("show", parents=[common], help="print a template's source")
    show.add_argument("name")
    rm = sub.add_parser("rm", parents=[common], help="remove a template")
    rm.add_argument("name")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    return run(f"metalinit template {args.verb}", lambda: VERBS[args.verb](args))


def _add(args: argparse.Namespace) -> int:
    text = read_text(args.file)
    if _OBJECT_HEADER.search(text):
        raise ClientError(
            f"{args.file} is a Tinkerbell object (apiVersion/kind), not a bare template: "
            f"use `metalinit apply -f {args.file}`"
        )
    view = connect(args).add_template(text, args.name)
    print(f"template {view['name']} saved")
    return 0


def _list(args: argparse.Namespace) -> int:
    rows = connect(args).templates()
    if args.json:
        json.dump([{k: v for k, v in r.items() if k != "data"} for r in rows], sys.stdout, indent=2)
        print()
        return 0
    table = Table(box=None)
    for column in ("name", "lines", "updated"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["name"], str(r["data"].count("\n") + 1), when(r["updated_at"]))
    console().print(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    sys.stdout.write(connect(args).template(args.name)["data"])
    return 0


def _rm(args: argparse.Namespace) -> int:
    connect(args).remove_template(args.name)
    print(f"removed template {args.name}")
    return 0


VERBS = {"add": _add, "list": _list, "show": _show, "rm": _rm}


def apply_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="metalinit apply", parents=[client_options()], description=__doc__
    )
    p.add_argument(
        "-f",
        "--filename",
        required=True,
        action="append",
        metavar="FILE.yaml",
        help="Tinkerbell objects ('-': standard input); repeat for more files",
    )
    return p


def apply_main(argv: list[str]) -> int:
    args = apply_parser().parse_args(argv)

    def body() -> int:
        client = connect(args)
        for path in args.filename:
            for done in client.apply(read_text(path)):
                what = (
                    "created"
                    if done["created"]
                    else "unchanged"
                    if done["kind"] == "Workflow"
                    else "updated"
                )
                extra = f" ({done['id']})" if done.get("id") else ""
                print(f"{done['kind'].lower()}/{done['name']} {what}{extra}")
        return 0

    return run("metalinit apply", body)
