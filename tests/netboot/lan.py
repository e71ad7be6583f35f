"""The provisioning network for the network-boot tests, in namespaces the test makes:
`tests.net.topology.lan` (bridge br0 with forward_delay 0 at 10.77.0.1/16 in the server
namespace, a client namespace), plus an IPv6 unique-local prefix on br0 (so our dnsmasq
sends router advertisements, as it does on any network with IPv6), tap devices for QEMU
machines, and `metalinit serve` itself running in the server namespace."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.net.topology import PYTHON, REPO, Lan, lan, netns_exec, sh

SERVER_ADDR = "10.77.0.1"
SERVER_V6 = "fd77::1/64"
START_SECONDS = 60.0
_LISTENING = re.compile(r"metalinit serve: listening on (http://\S+)")


def netboot_lan(tag: str) -> contextlib.AbstractContextManager[Lan]:
    return _netboot_lan(tag)


@contextlib.contextmanager
def _netboot_lan(tag: str) -> Iterator[Lan]:
    with lan(tag) as net:
        sh(*netns_exec(net.server_ns, "ip", "addr", "add", SERVER_V6, "dev", "br0", "nodad"))
        yield net


def add_tap(net: Lan, name: str) -> str:
    sh(*netns_exec(net.server_ns, "ip", "tuntap", "add", name, "mode", "tap"))
    sh(*netns_exec(net.server_ns, "ip", "link", "set", name, "master", "br0", "up"))
    return name


@dataclass
class NetServer:
    """`metalinit serve` in the server namespace; its URL as the machines reach it."""

    url: str
    token: str
    data: Path
    artifacts: Path
    process: subprocess.Popen[bytes]
    log: Path

    netns: str = ""

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`metalinit ARGS…` run in the server's namespace against this server."""
        env = {"METALINIT_SERVER": self.url, "METALINIT_TOKEN": self.token, "PATH": "/usr/bin:/bin"}
        argv = netns_exec(self.netns, str(PYTHON), "-m", "agent.cli", *args)
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
        if check and done.returncode:
            raise AssertionError(f"metalinit {' '.join(args)}: {done.returncode}\n{done.stderr}")
        return done

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@contextlib.contextmanager
def net_serve(net: Lan, work: Path, *args: str, port: int = 8080,
              boot_files: Sequence[Path] = ()) -> Iterator[NetServer]:  # fmt: skip
    """`metalinit serve --listen 10.77.0.1:PORT ARGS…` in the server namespace, with the
    build's files in ARTIFACTS/boot; stopped (Ctrl-C) at the end."""
    data, artifacts = work / "data", work / "artifacts"
    (artifacts / "boot").mkdir(parents=True, exist_ok=True)
    for path in boot_files:
        target = artifacts / "boot" / path.name
        if not target.exists():
            target.symlink_to(path.resolve())
    log = work / "serve.log"
    argv = [str(PYTHON), "-m", "agent.cli", "serve", "--listen", f"{SERVER_ADDR}:{port}",
            "--data", str(data), "--artifacts", str(artifacts), *args]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            netns_exec(net.server_ns, *argv), stdout=out, stderr=subprocess.STDOUT, cwd=REPO
        )
    server = NetServer("", "", data, artifacts, process, log, net.server_ns)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not (found := _LISTENING.search(server.log_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"metalinit serve did not start:\n{server.log_text()}")
            time.sleep(0.05)
        server.url = found.group(1)
        server.token = (data / "admin-token").read_text().strip()
        yield server
    finally:
        server.stop()
