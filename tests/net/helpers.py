"""Running the client in the client namespace and reading what it did."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.net.topology import PYTHON, REPO, Lan, sh

LEASE_LINE = re.compile(
    r"^agent: \[ *\d+\.\d{3}\] lease (\S+) (\d+\.\d+\.\d+\.\d+/\d+)( router \S+)?( dns \S+)? "
    r"from (\S+) \((\d+\.\d\d)s\)$",
    re.M,
)


def get_lease(net: Lan, work: Path, *args: str, timeout: float = 15) -> dict[str, Any]:
    """`metalinit dhcp --json ARGS` in the client namespace; the lease it printed."""
    result = net.run_client(
        "--json",
        "--timeout",
        str(timeout),
        "--etc",
        str(work / "root"),
        "--run",
        str(work / "run"),
        *args,
        timeout=timeout + 30,
    )
    assert result.returncode == 0, result.stderr
    assert LEASE_LINE.search(result.stderr), result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    out["stderr"] = result.stderr
    return out


def routes(net: Lan) -> dict[str, str]:
    """The client namespace's IPv4 routes: destination → gateway (or 'link')."""
    table = {}
    for entry in net.client_json("-4", "route", "show"):
        table[str(entry["dst"])] = str(entry.get("gateway", "link"))
    return table


def addresses(net: Lan, dev: str = "eth0") -> list[str]:
    out = net.client_json("-4", "addr", "show", "dev", dev)
    return [f"{a['local']}/{a['prefixlen']}" for link in out for a in link["addr_info"]]


def mtu(net: Lan, dev: str = "eth0") -> int:
    return int(net.client_json("link", "show", "dev", dev)[0]["mtu"])


def dhcp_lines(log_text: str, kind: str) -> list[str]:
    return [line for line in log_text.splitlines() if f" {kind}(" in line]


def popen_client(net: Lan, work: Path, *args: str) -> subprocess.Popen[str]:
    argv = net.client(
        str(PYTHON),
        "-m",
        "agent.net.cli",
        "--json",
        "--etc",
        str(work / "root"),
        "--run",
        str(work / "run"),
        *args,
    )
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )


def wait_gone(net: Lan, address: str, timeout: float = 5) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if address not in sh(*net.client("ip", "-4", "addr")).stdout:
            return True
        time.sleep(0.05)
    return False
