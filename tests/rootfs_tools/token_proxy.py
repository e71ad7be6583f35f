"""A test-only token issuer and fault injector in front of the real docker-registry.

It stands where a registry with token auth would: `/v2/…` wants `Bearer` tokens, which its
own `/token` endpoint hands out. It also misbehaves on purpose: the first manifest GET gets a
503, the first GET of each blob is cut off halfway, and later blob GETs are redirected to a
"blob store" on another port, which records any Authorization header that reaches it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

SERVICE = "metalinit-test-proxy"
PASS_HEADERS = ("Content-Type", "Content-Length", "Docker-Content-Digest", "Content-Range")


@dataclass
class Record:
    tokens_issued: list[dict[str, list[str]]] = field(default_factory=list)
    unauthorised: int = 0
    manifest_503: int = 0
    cut_blobs: set[str] = field(default_factory=set)
    ranges: list[str] = field(default_factory=list)
    store_auth_headers: list[str] = field(default_factory=list)
    store_gets: int = 0


def _relay(handler: BaseHTTPRequestHandler, url: str, headers: dict[str, str]) -> None:
    resp = requests.get(url, headers=headers, timeout=30)
    handler.send_response(resp.status_code)
    for name in PASS_HEADERS:
        if name in resp.headers:
            handler.send_header(name, resp.headers[name])
    handler.end_headers()
    handler.wfile.write(resp.content)


class Proxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = f"http://{upstream}"
        self.record = Record()
        self.lock = threading.Lock()
        self.front = ThreadingHTTPServer(("127.0.0.1", 0), self._front_handler())
        self.store = ThreadingHTTPServer(("127.0.0.1", 0), self._store_handler())
        self.host = f"127.0.0.1:{self.front.server_address[1]}"
        self.store_host = f"127.0.0.1:{self.store.server_address[1]}"
        for server in (self.front, self.store):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        for server in (self.front, self.store):
            server.shutdown()
            server.server_close()

    def _front_handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Front(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/token":
                    query = parse_qs(url.query)
                    with proxy.lock:
                        proxy.record.tokens_issued.append(query)
                    body = json.dumps({"access_token": "test-token", "expires_in": 300}).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if self.headers.get("Authorization") != "Bearer test-token":
                    with proxy.lock:
                        proxy.record.unauthorised += 1
                    self.send_response(401)
                    self.send_header(
                        "WWW-Authenticate",
                        f'Bearer realm="http://{proxy.host}/token"'
                        f',service="{SERVICE}",scope="repository:test/busybox:pull"',
                    )
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if "/manifests/" in url.path:
                    with proxy.lock:
                        fail = proxy.record.manifest_503 == 0
                        proxy.record.manifest_503 += fail
                    if fail:
                        self.send_response(503)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    _relay(self, proxy.upstream + self.path, {"Accept": self.headers["Accept"]})
                    return
                self._blob(url.path)

            def _blob(self, path: str) -> None:
                digest = path.rsplit("/", 1)[1]
                with proxy.lock:
                    first = digest not in proxy.record.cut_blobs
                    proxy.record.cut_blobs.add(digest)
                    if self.headers.get("Range"):
                        proxy.record.ranges.append(self.headers["Range"])
                if first:
                    body = requests.get(proxy.upstream + path, timeout=30).content
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_response(307)
                self.send_header("Location", f"http://{proxy.store_host}{path}")
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Front

    def _store_handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Store(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with proxy.lock:
                    proxy.record.store_gets += 1
                    if self.headers.get("Authorization"):
                        proxy.record.store_auth_headers.append(self.headers["Authorization"])
                headers = {"Range": self.headers["Range"]} if self.headers.get("Range") else {}
                _relay(self, proxy.upstream + self.path, headers)

        return Store
