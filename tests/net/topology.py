"""Test networks: namespaces joined by veth pairs and a bridge, and DHCP servers inside them.

Everything lives in namespaces this module creates (names carry the test's pid), on
10.77.0.0/16 addresses of our choosing; nothing touches the host's own interfaces. Used by
tests/net and by bench/dhcp_lease.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
DNSMASQ = "/usr/sbin/dnsmasq"
KEA = "/usr/sbin/kea-dhcp4"


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def netns_exec(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


@dataclass
class Lan:
    """A server namespace with bridge `br0` and client namespaces plugged into it."""

    tag: str
    server_ns: str
    client_ns: str
    server_addr: str = "10.77.0.1"
    extra_ns: list[str] = field(default_factory=list)
    ports: int = 0

    def add_client_link(self, name: str, *, bridged: bool = True, mac: str | None = None) -> None:
        """A veth in the client namespace; its peer sits in the server namespace."""
        self.ports += 1
        peer = f"p{self.ports}{self.tag}"[:15]
        sh(
            "ip",
            "link",
            "add",
            name,
            "netns",
            self.client_ns,
            *(["address", mac] if mac else []),
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "netns",
            self.server_ns,
        )
        if bridged:
            sh(*netns_exec(self.server_ns, "ip", "link", "set", peer, "master", "br0"))
        sh(*netns_exec(self.server_ns, "ip", "link", "set", peer, "up"))

    def add_server_ns(self, addr: str) -> str:
        """Another namespace on the same bridge (a second DHCP server), with address addr/16."""
        ns = f"mi-s{len(self.extra_ns) + 2}-{self.tag}"
        sh("ip", "netns", "add", ns)
        self.extra_ns.append(ns)
        self.ports += 1
        peer = f"p{self.ports}{self.tag}"[:15]
        sh(
            "ip",
            "link",
            "add",
            "lan0",
            "netns",
            ns,
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "netns",
            self.server_ns,
        )
        sh(*netns_exec(self.server_ns, "ip", "link", "set", peer, "master", "br0"))
        sh(*netns_exec(self.server_ns, "ip", "link", "set", peer, "up"))
        sh(*netns_exec(ns, "ip", "addr", "add", f"{addr}/16", "dev", "lan0"))
        sh(*netns_exec(ns, "ip", "link", "set", "lan0", "up"))
        sh(*netns_exec(ns, "ip", "link", "set", "lo", "up"))
        return ns

    def netns_exec_server(self, *argv: str) -> list[str]:
        return netns_exec(self.server_ns, *argv)

    def client(self, *argv: str) -> list[str]:
        return netns_exec(self.client_ns, *argv)

    def run_client(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`metalinit dhcp ARGS…` inside the client namespace."""
        argv = self.client(str(PYTHON), "-m", "agent.net.cli", *args)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO)

    def client_json(self, *argv: str) -> list[dict[str, object]]:
        out = sh(*self.client("ip", "-j", *argv)).stdout
        return list(json.loads(out or "[]"))


@contextmanager
def lan(tag: str | None = None) -> Iterator[Lan]:
    tag = tag or f"{os.getpid() % 100000}"
    net = Lan(tag=tag, server_ns=f"mi-srv-{tag}", client_ns=f"mi-cli-{tag}")
    try:
        for ns in (net.server_ns, net.client_ns):
            sh("ip", "netns", "add", ns)
            sh(*netns_exec(ns, "ip", "link", "set", "lo", "up"))
        s = net.server_ns
        sh(*netns_exec(s, "ip", "link", "add", "br0", "type", "bridge", "forward_delay", "0"))
        sh(*netns_exec(s, "ip", "addr", "add", f"{net.server_addr}/16", "dev", "br0"))
        sh(*netns_exec(s, "ip", "link", "set", "br0", "up"))
        yield net
    finally:
        for ns in [net.client_ns, *net.extra_ns, net.server_ns]:
            sh("ip", "netns", "del", ns, check=False)


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, needle: str, timeout: float = 10.0) -> str:
        """Wait until the daemon's log holds needle (polled: the log is a file we do not own)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            text = self.text()
            if needle in text:
                return text
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not in {self.log}:\n{self.text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def dnsmasq(
    ns: str,
    workdir: Path,
    *options: str,
    iface: str = "br0",
    range_: str = "10.77.1.10,10.77.1.200,255.255.0.0,1h",
) -> Iterator[Daemon]:
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "dnsmasq.log"
    argv = [
        DNSMASQ,
        "--no-daemon",
        "--port=0",
        "--bind-interfaces",
        f"--interface={iface}",
        "--conf-file=/dev/null",
        "--log-dhcp",
        f"--log-facility={log}",
        f"--dhcp-leasefile={workdir / 'leases'}",
        f"--pid-file={workdir / 'pid'}",
        f"--dhcp-range={range_}",
        *options,
    ]
    # Never a pipe nobody reads: dnsmasq would block on a full one and stop answering.
    with (workdir / "dnsmasq.stderr").open("wb") as stderr:
        proc = subprocess.Popen(netns_exec(ns, *argv), stderr=stderr)
    daemon = Daemon(proc, log)
    try:
        daemon.wait_for("DHCP, IP range", timeout=10)
        yield daemon
    finally:
        daemon.stop()


@contextmanager
def kea(
    ns: str,
    workdir: Path,
    *,
    iface: str = "br0",
    subnet: str = "10.77.0.0/16",
    pool: str = "10.77.3.10 - 10.77.3.200",
    router: str = "10.77.0.1",
    lifetime: int = 600,
) -> Iterator[Daemon]:
    """ISC Kea's DHCPv4 server with a config of our own (raw sockets on iface only)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "kea.log"
    config = {
        "Dhcp4": {
            "interfaces-config": {"interfaces": [iface], "dhcp-socket-type": "raw"},
            "lease-database": {"type": "memfile", "persist": False},
            "valid-lifetime": lifetime,
            "subnet4": [
                {
                    "id": 1,
                    "subnet": subnet,
                    "pools": [{"pool": pool}],
                    "option-data": [
                        {"name": "routers", "data": router},
                        {"name": "domain-name-servers", "data": "10.77.0.53"},
                    ],
                }
            ],
            "loggers": [
                {
                    "name": "kea-dhcp4",
                    "output_options": [{"output": str(log)}],
                    "severity": "INFO",
                }
            ],
        }
    }
    conf = workdir / "kea.json"
    conf.write_text(json.dumps(config))
    env = dict(os.environ, KEA_PIDFILE_DIR=str(workdir), KEA_LOCKFILE_DIR=str(workdir))
    with (workdir / "kea.stderr").open("wb") as stderr:
        proc = subprocess.Popen(
            netns_exec(ns, KEA, "-c", str(conf)), env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    daemon = Daemon(proc, log)
    try:
        daemon.wait_for("DHCP4_STARTED", timeout=15)
        yield daemon
    finally:
        daemon.stop()


def stop_quietly(daemon: Daemon) -> None:
    with suppress(Exception):
        daemon.stop()
