"""The frozen agent (what the initramfs carries) runs the worker's parts: the inventory,
and requests over TLS with certifi's bundle found where requests looks for it.

Heavy (freezes the agent once, cached): run under the shared lock. The HTTPS peer here is
a stand-in, not `metalinit serve`: a stdlib server that answers every lookup with the
machine API's 404 unknown_machine, so the worker's TLS handshake is what is tested.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from initramfs.freeze import Frozen, freeze


@pytest.fixture(scope="module")
def frozen() -> Frozen:
    return freeze()


def test_the_frozen_inventory(frozen: Frozen) -> None:
    done = subprocess.run(
        [str(frozen.executable), "inventory", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    inventory = json.loads(done.stdout)
    assert inventory["cpu"]["count"] >= 1 and inventory["interfaces"]
    assert "warning" not in done.stderr.lower()  # no import-time noise from requests


def test_certifi_bundle_is_frozen(frozen: Frozen) -> None:
    bundles = list((frozen.root / "_internal").rglob("cacert.pem"))
    assert [b.parent.name for b in bundles] == ["certifi"]
    assert b"BEGIN CERTIFICATE" in bundles[0].read_bytes()


class UnknownMachine(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps({"detail": "no such machine", "code": "unknown_machine"}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    work = tmp_path_factory.mktemp("tls")
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        check=True,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), UnknownMachine)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()


def first_lookup_line(frozen: Frozen, *args: str) -> str:
    """Start the frozen worker, read its log until its first lookup ended, stop it."""
    worker = subprocess.Popen(
        [str(frozen.executable), "worker", "--mac", "02:00:00:00:00:07", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert worker.stdout is not None
        for line in worker.stdout:
            if "lookup:" in line:
                return line
        return ""
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_tls_with_the_servers_ca(frozen: Frozen, https: tuple[str, Path]) -> None:
    url, cert = https
    line = first_lookup_line(frozen, "--server", url, "--ca", str(cert))
    assert "the server knows no machine with MAC 02:00:00:00:00:07" in line


def test_tls_with_the_built_in_bundle_refuses_a_self_signed_server(
    frozen: Frozen, https: tuple[str, Path]
) -> None:
    url, _ = https
    line = first_lookup_line(frozen, "--server", url)
    assert "CERTIFICATE_VERIFY_FAILED" in line or "certificate verify failed" in line
