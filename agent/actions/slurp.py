"""`slurp`: capture a disk and upload it, so other machines can be provisioned from it.

The hub action's variables: SOURCE_DISK, DEST_URL, IMG_NAME, COMPRESSED (gzip; the file
is IMG_NAME.img or IMG_NAME.img.gz). Where DEST_URL is empty or on the provisioning server,
the image goes to the machine API's upload endpoint (`wire.UPLOAD`, a PUT with this boot's
machine token), and the sha256 the server computed of what it stored must equal the one
computed here while reading: the upload is then verified end to end, and that sha256 is the
CHECKSUM for an image2disk of it. Any other DEST_URL gets what the hub action sends (a
multipart POST with the file in the field `BootyImage`); the sha256 is printed then.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
import zlib
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests

from agent.actions import ActionContext, ActionError, Then
from agent.actions.diskwrite import size_text
from agent.actions.envvars import flag, required, text
from agent.provision import wire

CHUNK = 1 << 20
GZIP_LEVEL = 1  # disks are mostly zeros and filesystem metadata: level 1 keeps up with reads
ATTEMPTS = 3
HUB_FIELD = "BootyImage"  # the form field the hub's slurp server reads
TIMEOUT = (15.0, 300.0)


class Capture:
    """The disk's bytes, gzip-compressed if asked, hashed as they are handed to the upload;
    made again for each attempt."""

    def __init__(self, ctx: ActionContext, path: str, compressed: bool) -> None:
        self.ctx, self.path, self.compressed = ctx, path, compressed
        self.sha256 = hashlib.sha256()
        self.sent = self.read = 0
        self.size = _size(path)

    def chunks(self) -> Iterator[bytes]:
        packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        last = time.monotonic()
        with open(self.path, "rb", buffering=0) as disk:
            while data := disk.read(CHUNK):
                if self.ctx.cancelled.is_set():
                    raise ActionError("cancelled")
                self.read += len(data)
                yield from self._out(packer.compress(data) if self.compressed else data)
                if time.monotonic() - last >= 1.0:
                    self.ctx.progress(self.read, self.size)
                    last = time.monotonic()
        if self.compressed:
            yield from self._out(packer.flush())
        self.ctx.progress(self.read, self.size)

    def _out(self, data: bytes) -> Iterator[bytes]:
        if data:
            self.sha256.update(data)
            self.sent += len(data)
            yield data


def _size(path: str) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)  # a block device's size too
    finally:
        os.close(fd)


def _to_server(ctx: ActionContext, dest_url: str) -> bool:
    if not dest_url:
        return True
    here, there = urlsplit(ctx.server), urlsplit(dest_url)
    return bool(ctx.server) and (here.scheme, here.netloc) == (there.scheme, there.netloc)


def _upload(ctx: ActionContext, capture: Capture, name: str, dest_url: str) -> wire.Uploaded | None:
    if _to_server(ctx, dest_url):
        if not ctx.server:
            raise ActionError("DEST_URL is empty and the worker gave no server to upload to")
        url = ctx.server.rstrip("/") + wire.UPLOAD.format(name=name)
        headers = {
            "Authorization": f"Bearer {ctx.token}",
            "Content-Type": "application/octet-stream",
        }
        response = requests.put(url, data=capture.chunks(), headers=headers, timeout=TIMEOUT)
        _check(response, url)
        try:
            return wire.Uploaded.from_json(response.json())
        except (ValueError, wire.WireError) as e:
            raise ActionError(f"{url}: the server's reply is not an upload receipt: {e}") from None
    boundary = uuid.uuid4().hex
    response = requests.post(
        dest_url,
        data=_multipart(capture, name, boundary),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=TIMEOUT,
    )
    _check(response, dest_url)
    return None


def _multipart(capture: Capture, name: str, boundary: str) -> Iterator[bytes]:
    disposition = f'form-data; name="{HUB_FIELD}"; filename="{name}"'
    yield (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
           "Content-Type: application/octet-stream\r\n\r\n").encode()  # fmt: skip
    yield from capture.chunks()
    yield f"\r\n--{boundary}--\r\n".encode()


def _check(response: requests.Response, url: str) -> None:
    if response.status_code in (200, 201):
        return
    detail = response.text[:300]
    try:
        detail = wire.Problem.from_json(json.loads(response.text)).detail
    except ValueError:
        pass
    hint = " (the server refused this machine's token)" if response.status_code == 401 else ""
    raise ActionError(f"{url}: the server answered HTTP {response.status_code}{hint}: {detail}")


def run(ctx: ActionContext) -> Then | None:
    env = ctx.env
    disk = required(env, "SOURCE_DISK", "the disk to capture, such as /dev/sda")
    compressed = flag(env, "COMPRESSED")
    base = text(env, "IMG_NAME", os.path.basename(disk))
    if "/" in base or base.startswith("."):
        raise ActionError(f"IMG_NAME={base!r}: a plain file name is needed")
    name = f"{base}.img.gz" if compressed else f"{base}.img"
    dest_url = text(env, "DEST_URL")
    try:
        ctx.say(f"uploading {disk} ({size_text(_size(disk))}) as {name}")
    except OSError as e:
        raise ActionError(f"SOURCE_DISK={disk}: {e.strerror}") from None
    started = time.monotonic()
    for attempt in range(1, ATTEMPTS + 1):
        capture = Capture(ctx, disk, compressed)
        try:
            receipt = _upload(ctx, capture, name, dest_url)
            break
        except (requests.ConnectionError, requests.Timeout) as e:
            if attempt == ATTEMPTS:
                raise ActionError(f"uploading {name} failed {ATTEMPTS} times: {e}") from None
            ctx.say(f"upload attempt {attempt} broke ({type(e).__name__}); starting again")
            if ctx.cancelled.wait(2.0 * attempt):
                raise ActionError("cancelled") from None
    digest = capture.sha256.hexdigest()
    seconds = time.monotonic() - started
    ctx.say(f"sent {capture.sent} bytes ({size_text(capture.sent)}) of {capture.read} read "
            f"in {seconds:.1f} s; sha256 {digest}")  # fmt: skip
    if receipt is not None:
        if (receipt.sha256, receipt.size) != (digest, capture.sent):
            raise ActionError(
                f"the server stored {receipt.size} bytes with sha256 {receipt.sha256}, but "
                f"{capture.sent} bytes with sha256 {digest} were sent: the upload is damaged"
            )
        ctx.say(f"verified by the server: {receipt.url} (CHECKSUM sha256:{digest})")
    return None
