"""/artifacts/ (HEAD, Range, ETag, no way out of the directory) and machine uploads."""

from __future__ import annotations

import hashlib
import http.client
import os
from urllib.parse import urlsplit

import pytest
import requests

from agent.provision import wire
from tests.server.fleet import Fleet
from tests.server.serving import Served

IMAGE = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture(scope="module")
def image(sqlite_served: Served) -> str:
    (sqlite_served.artifacts / "images").mkdir(exist_ok=True)
    (sqlite_served.artifacts / "images" / "debian.raw").write_bytes(IMAGE)
    return sqlite_served.url + "/artifacts/images/debian.raw"


def test_get_and_head(image: str) -> None:
    got = requests.get(image, timeout=10)
    assert got.status_code == 200 and got.content == IMAGE
    assert got.headers["accept-ranges"] == "bytes"
    head = requests.head(image, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(IMAGE)
    assert head.headers["etag"] == got.headers["etag"]


def test_range_resumes_a_download(image: str) -> None:
    part = requests.get(image, headers={"Range": "bytes=1000-"}, timeout=10)
    assert part.status_code == 206 and part.content == IMAGE[1000:]
    assert part.headers["content-range"] == f"bytes 1000-{len(IMAGE) - 1}/{len(IMAGE)}"
    middle = requests.get(image, headers={"Range": "bytes=10-19"}, timeout=10)
    assert middle.content == IMAGE[10:20]
    beyond = requests.get(image, headers={"Range": f"bytes={len(IMAGE)}-"}, timeout=10)
    assert beyond.status_code == 416


def test_etag_and_if_range(image: str) -> None:
    etag = requests.head(image, timeout=10).headers["etag"]
    assert requests.get(image, headers={"If-None-Match": etag}, timeout=10).status_code == 304
    same = requests.get(image, headers={"Range": "bytes=0-9", "If-Range": etag}, timeout=10)
    assert same.status_code == 206
    changed = requests.get(image, headers={"Range": "bytes=0-9", "If-Range": '"old"'}, timeout=10)
    assert changed.status_code == 200 and len(changed.content) == len(IMAGE)


def _raw_get(url: str, path: str) -> int:
    """GET a path exactly as written (requests would normalise the dots away)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.mark.parametrize(
    "path",
    [
        "/artifacts/../data/admin-token",
        "/artifacts/..%2fdata%2fadmin-token",
        "/artifacts/%2e%2e/%2e%2e/etc/passwd",
        "/artifacts/images/../../data/admin-token",
        "/artifacts//etc/passwd",
        "/artifacts/images/.hidden",
        "/artifacts/images",
        "/artifacts/missing.raw",
    ],
)
def test_nothing_outside_the_directory_is_served(
    sqlite_served: Served, image: str, path: str
) -> None:
    (sqlite_served.artifacts / "images" / ".hidden").write_text("no")
    assert _raw_get(sqlite_served.url, path) == 404


def test_a_symlink_out_of_the_directory_is_refused(sqlite_served: Served, image: str) -> None:
    link = sqlite_served.artifacts / "escape"
    if not link.exists():
        os.symlink(sqlite_served.data / "admin-token", link)
    assert requests.get(sqlite_served.url + "/artifacts/escape", timeout=10).status_code == 404


def _upload(
    served: Served, token: str | None, name: str, body: bytes, checksum: str | None = None
) -> requests.Response:
    headers = {"Content-Type": "application/octet-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if checksum:
        headers[wire.UPLOAD_SHA256] = checksum
    return requests.put(
        served.url + wire.UPLOAD.format(name=name), data=body, headers=headers, timeout=30
    )


def test_an_upload_with_its_checksum_is_kept_and_served(sqlite_served: Served) -> None:
    fleet = Fleet(sqlite_served)
    name, mac = fleet.machine()
    token = sqlite_served.machine().lookup([mac]).token
    body = os.urandom(3 << 20)
    digest = hashlib.sha256(body).hexdigest()
    reply = _upload(sqlite_served, token, "capture.raw", body, digest)
    assert reply.status_code == 200, reply.text
    uploaded = wire.Uploaded.from_json(reply.json())
    assert (uploaded.name, uploaded.size, uploaded.sha256) == ("capture.raw", len(body), digest)
    assert uploaded.url.endswith(f"/artifacts/uploads/{name}/capture.raw")
    assert requests.get(uploaded.url, timeout=30).content == body


def test_an_upload_with_the_wrong_checksum_leaves_nothing(sqlite_served: Served) -> None:
    fleet = Fleet(sqlite_served)
    name, mac = fleet.machine()
    token = sqlite_served.machine().lookup([mac]).token
    reply = _upload(sqlite_served, token, "bad.raw", b"abc", "0" * 64)
    assert reply.status_code == 422 and "SHA-256" in reply.json()["detail"]
    folder = sqlite_served.artifacts / "uploads" / name
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("name", ["../x", ".hidden", "a b", "x" * 300])
def test_an_upload_name_is_a_plain_file_name(sqlite_served: Served, name: str) -> None:
    fleet = Fleet(sqlite_served)
    _, mac = fleet.machine()
    token = sqlite_served.machine().lookup([mac]).token
    assert _upload(sqlite_served, token, name, b"x").status_code in (404, 422)


def test_an_upload_needs_a_machine_token(sqlite_served: Served) -> None:
    assert _upload(sqlite_served, None, "x.raw", b"x").status_code == 401
    assert _upload(sqlite_served, sqlite_served.token, "x.raw", b"x").status_code == 403
