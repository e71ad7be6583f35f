"""Debian's docker-registry on 127.0.0.1 with its own config and storage, for tests."""

from __future__ import annotations

import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import requests

CONFIG = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
{auth}"""
HTPASSWD_AUTH = """\
auth:
  htpasswd:
    realm: metalinit-test
    path: {path}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bcrypt_line(user: str, password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n"


@dataclass
class Registry:
    host: str
    log: Path
    process: subprocess.Popen[bytes]
    creds: str = ""

    def push(self, source: str, name: str, *extra: str) -> str:
        """skopeo copy SOURCE to this registry as NAME; returns the reference."""
        argv = ["skopeo", "copy", "-q", "--dest-tls-verify=false", *extra]
        if self.creds:
            argv += ["--dest-creds", self.creds]
        subprocess.run(
            [*argv, source, f"docker://{self.host}/{name}"], check=True, capture_output=True
        )
        return f"{self.host}/{name}"

    def blob_gets(self, repo: str) -> int:
        text = self.log.read_text(errors="replace")
        return text.count(f'"GET /v2/{repo}/blobs/')

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def start(work: Path, htpasswd: tuple[str, str] | None = None) -> Registry:
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    auth = ""
    creds = ""
    if htpasswd:
        (work / "htpasswd").write_text(bcrypt_line(*htpasswd))
        auth = HTPASSWD_AUTH.format(path=work / "htpasswd")
        creds = ":".join(htpasswd)
    config = work / "config.yml"
    config.write_text(CONFIG.format(root=work / "storage", port=port, auth=auth))
    log = work / "registry.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1)
            return Registry(f"127.0.0.1:{port}", log, proc, creds)
        except requests.ConnectionError:
            if proc.poll() is not None:
                raise RuntimeError(f"docker-registry died: {log.read_text()}") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("docker-registry did not start")
