"""Benchmark: link-up to lease applied, metalinit's DHCP client vs busybox udhcpc.

One run, one dnsmasq, the same namespaces and the same client MAC for every lease. Each
lease starts with the client's link down and without an address; the clock starts just
before the link is set up and stops when address, routes and resolv.conf are in place:
  - udhcpc: `ip link set up`, then `busybox udhcpc -q` with a script that applies the lease;
    stops when udhcpc exits (after its script ran).
  - metalinit, in process: what the agent's network stage does (bring the link up, wait
    for carrier by netlink, DHCP, apply by netlink, write the files); scapy and pyroute2
    already imported, as they are after the agent's first lease.
  - metalinit, as a process: `python -m agent.net.cli eth0 --apply` (interpreter start and
    imports included), for comparison with udhcpc's start-up.
Leases alternate between the clients so that machine noise falls on all of them alike.

usage: .venv/bin/python bench/dhcp_lease.py [--runs N]   (root; prints a markdown table)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MAC = "02:42:00:00:be:01"
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface" ;;
  bound|renew)
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    : > "$RESOLV"; for s in $dns; do echo "nameserver $s" >> "$RESOLV"; done ;;
esac
"""


def inner(runs: int, work: Path) -> dict[str, list[float]]:
    """Runs inside the client namespace: the timed leases."""
    from agent.log import Log
    from agent.net.apply import EtcFiles
    from agent.net.links import ipr
    from agent.net.session import Want, obtain, put_into_effect

    script = work / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "RESOLV": str(work / "udhcpc-resolv.conf")}
    log = Log(console=open(work / "client.log", "w"))  # noqa: SIM115 - open for the run
    etc = EtcFiles.under(work / "root")
    route = ipr()
    index = route.link_lookup(ifname="eth0")[0]

    def reset() -> None:
        route.link("set", index=index, state="down")
        route.flush_addr(index=index)

    def link_up() -> None:
        route.link("set", index=index, state="up")

    def udhcpc(arp: bool) -> None:
        argv = ["busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n"]  # its own retry defaults
        argv += ["-a200"] if arp else []
        link_up()
        subprocess.run([*argv, "-s", str(script)], env=env, check=True, capture_output=True)

    def ours(arp_wait: float) -> None:
        outcome = obtain(Want(names=("eth0",), timeout=10, arp_wait=arp_wait), log)
        put_into_effect(outcome.lease, log, etc=etc, run=work / "run")

    def ours_process() -> None:
        link_up()
        argv = [
            sys.executable,
            "-m",
            "agent.net.cli",
            "eth0",
            "--apply",
            "--etc",
            str(work / "root"),
            "--run",
            str(work / "run"),
        ]
        subprocess.run(argv, check=True, capture_output=True, cwd=REPO)

    clients = {
        "udhcpc": lambda: udhcpc(False),
        "udhcpc -a200 (ARP check)": lambda: udhcpc(True),
        "metalinit, in process, ARP probe 0.2 s (metalinit.arp_wait=0.2)": lambda: ours(0.2),
        "metalinit, in process, no ARP probe (default)": lambda: ours(0.0),
        "metalinit dhcp --apply, new process": ours_process,
    }
    times: dict[str, list[float]] = {name: [] for name in clients}
    for run in clients.values():  # one warm-up lease each (imports, dnsmasq's lease)
        reset()
        run()
    for _ in range(runs):
        for name, run in clients.items():
            reset()
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    route.close()
    return times


def outer(runs: int) -> str:
    from tests.net.topology import PYTHON, dnsmasq, lan

    with tempfile.TemporaryDirectory() as tmp, lan("bench") as net:
        work = Path(tmp)
        net.add_client_link("eth0", mac=MAC)
        net.add_server_ns("10.77.0.3")  # another host on the LAN: br0 keeps its carrier
        with dnsmasq(net.server_ns, work / "dnsmasq", "--no-ping") as server:
            argv = net.client(
                str(PYTHON), __file__, "--inner", "--runs", str(runs), "--work", str(work)
            )
            result = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
            if result.returncode != 0:
                client_log = (work / "client.log").read_text()[-3000:]
                raise SystemExit(
                    result.stderr + "\ndnsmasq:\n" + server.text()[-4000:] + client_log
                )
    return table(json.loads(result.stdout), runs)


def table(times: dict[str, list[float]], runs: int) -> str:
    base = statistics.median(times["udhcpc"])
    lines = [
        f"| client ({runs} leases each) | median | min | max | leases over 1 s | vs udhcpc |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(
            f"| {name} | {median * 1000:.1f} ms | {min(values) * 1000:.1f} ms "
            f"| {max(values) * 1000:.1f} ms | {sum(v > 1 for v in values)} | {median / base:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.inner:
        print(json.dumps(inner(args.runs, args.work)))
        return 0
    print(outer(args.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
