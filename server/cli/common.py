"""What every client command shares: --server and --data, the admin client they make,
and one place that turns any ClientError into one line on stderr and exit status 1."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from rich.console import Console

from server.cli.client import AdminClient, ClientError, admin_token, server_url


def client_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--server",
        metavar="URL",
        help="the server (default: $METALINIT_SERVER, else http://127.0.0.1:8080)",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        help="the server's data directory, for its admin-token (if no $METALINIT_TOKEN)",
    )
    return p


def connect(args: argparse.Namespace) -> AdminClient:
    return AdminClient(server_url(args.server), admin_token(args.data))


def run(prog: str, body: Callable[[], int]) -> int:
    try:
        return body()
    except ClientError as err:
        sys.stderr.write(f"{prog}: {err}\n")
        return 1
    except OSError as err:
        sys.stderr.write(f"{prog}: {err.filename or ''}: {err.strerror}\n")
        return 1
    except KeyboardInterrupt:
        return 130


def console() -> Console:
    """A console for tables: the terminal's width, or wide when output goes to a pipe (so
    IDs and MACs are never cut to fit 80 columns)."""
    return Console(soft_wrap=True) if sys.stdout.isatty() else Console(width=250)


def when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def read_text(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError:
        raise ClientError(f"{path}: not UTF-8 text") from None
