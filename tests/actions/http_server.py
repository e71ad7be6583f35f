"""Test infrastructure: an HTTP file server on 127.0.0.1 that can misbehave on purpose.

It serves a directory with Range, ETag and Last-Modified as artifact servers do, and on
request: drops the connection after a given byte of a file (once per listed offset), sends
a status (503, …) instead of the file, or ignores Range (answers 200 with the whole file).
It also takes the hub slurp server's multipart POST (the file in the form field
`BootyImage`). Every request is logged for the tests to read. Where a test needs none of
this, it uses a real `metalinit serve` (tests/server/serving.py) instead.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass
class Behaviour:
    drops: dict[str, list[int]] = field(default_factory=dict)  # name → byte offsets
    statuses: dict[str, list[int]] = field(default_factory=dict)  # name → statuses to send
    no_ranges: set[str] = field(default_factory=set)


@dataclass
class Request:
    method: str
    path: str
    range: str
    status: int


@dataclass
class FileServer:
    root: Path
    port: int
    behaviour: Behaviour
    log: list[Request]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests_for(self, name: str) -> list[Request]:
        return [r for r in self.log if r.path == f"/{name}"]


def _handler(server: FileServer, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _log(self, status: int) -> None:
            with lock:
                server.log.append(
                    Request(self.command, self.path, self.headers.get("Range", ""), status)
                )

        def _empty(self, status: int) -> None:
            self._log(status)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_HEAD(self) -> None:
            self.do_GET(body=False)

        def do_GET(self, body: bool = True) -> None:
            name = self.path.lstrip("/")
            with lock:
                queued = server.behaviour.statuses.get(name)
                status = queued.pop(0) if queued else None
            if status is not None:
                return self._empty(status)
            path = server.root / name
            if not name or ".." in name or not path.is_file():
                return self._empty(404)
            st = path.stat()
            size = st.st_size
            etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
            start, end = 0, size
            status = 200
            wanted = _RANGE.fullmatch(self.headers.get("Range", ""))
            if_range = self.headers.get("If-Range")
            if wanted and name not in server.behaviour.no_ranges and if_range in (None, etag):
                first, last = wanted.groups()
                if first:
                    start, end = int(first), int(last) + 1 if last else size
                else:
                    start, end = max(0, size - int(last)), size
                end = min(end, size)
                if start >= size:
                    self._empty(416)
                    return
                status = 206
            self._log(status)
            self.send_response(status)
            self.send_header("Content-Length", str(end - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", formatdate(st.st_mtime, usegmt=True))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
            self.end_headers()
            if not body:
                return
            with lock:
                drops = server.behaviour.drops.get(name, [])
                cut = next((d for d in sorted(drops) if start <= d < end), None)
                if cut is not None:
                    drops.remove(cut)
            with open(path, "rb") as f:
                try:
                    self.connection.sendfile(f, start, (cut if cut is not None else end) - start)
                except (BrokenPipeError, ConnectionResetError):
                    return
            if cut is not None:
                self.close_connection = True
                self.connection.shutdown(2)  # mid-body: the client sees the body end early

        def do_POST(self) -> None:
            """The hub's slurp server: a multipart form with the file in `BootyImage`."""
            from email import policy
            from email.parser import BytesParser

            body = b"".join(self._body())
            head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
            message = BytesParser(policy=policy.default).parsebytes(head + body)
            for part in message.iter_parts():  # type: ignore[attr-defined]
                if part.get_param("name", header="content-disposition") == "BootyImage":
                    uploads = server.root / "uploads"
                    uploads.mkdir(exist_ok=True)
                    payload = part.get_payload(decode=True)
                    assert isinstance(payload, bytes)
                    (uploads / f"hub-{part.get_filename()}").write_bytes(payload)
                    return self._empty(200)
            self._empty(400)

        def _body(self) -> Iterator[bytes]:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return
                    yield self.rfile.read(size)
                    self.rfile.readline()
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                piece = self.rfile.read(min(left, 1 << 20))
                if not piece:
                    return
                left -= len(piece)
                yield piece

    return Handler


@contextmanager
def serving(root: Path, behaviour: Behaviour | None = None) -> Iterator[FileServer]:
    lock = threading.Lock()
    holder = FileServer(root, 0, behaviour or Behaviour(), [])
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder, lock))
    httpd.daemon_threads = True
    holder.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()
