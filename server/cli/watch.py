"""`metalinit workflow watch ID`: a live table of the workflow's actions (state, attempt,
time, a progress bar for image writes) until it ends; exit 0 on SUCCESS, 1 on FAILED or
TIMEOUT. Without a terminal it prints the table once at the end."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from server.cli.client import AdminClient
from server.cli.common import console as wide_console
from server.cli.common import duration

STYLE = {
    "PENDING": "dim",
    "RUNNING": "bold cyan",
    "SUCCESS": "green",
    "FAILED": "bold red",
    "TIMEOUT": "bold red",
}
ENDED = ("SUCCESS", "FAILED", "TIMEOUT")


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _elapsed(action: dict[str, Any], now: float) -> str:
    if action["state"] == "RUNNING" and action["started_at"] is not None:
        return duration(now - action["started_at"])
    if action["seconds"] is not None:
        return duration(action["seconds"])
    if action["started_at"] is not None and action["stopped_at"] is not None:
        return duration(action["stopped_at"] - action["started_at"])
    return "-"


def _progress(action: dict[str, Any]) -> Any:
    p = action["progress"]
    if p is None:
        return ""
    if p["total"]:
        done = p["total"] if action["state"] == "SUCCESS" else min(p["done"], p["total"])
        line = Table.grid(padding=(0, 1))
        line.add_row(
            ProgressBar(total=p["total"], completed=done, width=20),
            f"{100 * done // p['total']:3d}%",
            _amount(done, p["unit"]) + "/" + _amount(p["total"], p["unit"]),
        )
        return line
    return _amount(p["done"], p["unit"])


def _amount(n: int, unit: str) -> str:
    return _bytes(n) if unit == "bytes" else f"{n} {unit}"


def render(view: dict[str, Any]) -> Table:
    now = view["server_time"]
    title = Text.assemble(f"workflow {view['id']} ", (view["state"], STYLE[view["state"]]))
    if view["message"]:
        title.append(f" — {view['message']}")
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("task/action", "worker", "state", "try", "time", "progress", "message"):
        table.add_column(column)
    for a in view["actions"]:
        table.add_row(
            f"{a['task']}/{a['name']}",
            a["hardware"],
            Text(a["state"], style=STYLE[a["state"]]),
            str(a["attempt"]),
            _elapsed(a, now),
            _progress(a),
            a["message"][:80],
        )
    return table


def watch(
    client: AdminClient, key: str, interval: float = 1.0, console: Console | None = None
) -> int:
    console = console or wide_console()
    view = client.workflow(key)
    with Live(render(view), console=console, auto_refresh=False, transient=False) as live:
        while view["state"] not in ENDED:
            time.sleep(interval)
            view = client.workflow(key)
            live.update(render(view), refresh=True)
    return 0 if view["state"] == "SUCCESS" else 1
