"""An HTTP download that survives dropped connections, hashed as it is read.

`Download.chunks()` yields the body as served, in pieces of at most CHUNK bytes, and feeds
every byte, once and in order, to the hash it was given. When the connection breaks (reset,
closed early, stalled past the read timeout, a 5xx), it asks again with
`Range: bytes=DONE-` and `If-Range`, so the hash simply goes on where it was. A server that
answers a Range request with the whole body again (it has no ranges) is read past the
part already done; one whose ETag or Last-Modified changed fails the download: the bytes
would not be one file.

How long to keep trying is a `Retry`: failures in a row, each after a back-off, and a
deadline (RETRY_ENABLED and RETRY_DURATION_MINUTES). A 4xx is never retried.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import requests
import urllib3

from agent.actions import ActionError

CHUNK = 1 << 20
TIMEOUT = (15.0, 60.0)  # connect, and the longest silence before the read counts as stalled
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
BROKEN = (
    OSError,
    http.client.HTTPException,
    urllib3.exceptions.HTTPError,
    requests.RequestException,
)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...


class DownloadError(ActionError):
    pass


class _Transient(Exception):
    """Worth another try: the connection broke, or the server said 5xx."""


@dataclass(frozen=True)
class Retry:
    attempts: int = 6  # failures in a row before giving up; progress resets the count
    seconds: float | None = None  # or keep trying this long after the first failure

    def gives_up(self, failures: int, since: float) -> bool:
        if self.seconds is not None:
            return time.monotonic() - since > self.seconds
        return failures >= self.attempts


Send = Callable[[dict[str, str]], Any]  # GET with these extra headers → a streaming response


def http_get(url: str, session: Any = None) -> Send:
    """A plain GET through requests, the body left as served (no Content-Encoding undone)."""

    def send(headers: dict[str, str]) -> Any:
        client = session or requests
        return client.get(
            url,
            headers={"Accept-Encoding": "identity", **headers},
            stream=True,
            timeout=TIMEOUT,
        )

    return send


class Download:
    def __init__(
        self,
        what: str,
        send: Send,
        *,
        retry: Retry = Retry(),
        cancelled: threading.Event | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.what, self._send, self.retry = what, send, retry
        self._cancelled = cancelled or threading.Event()
        self._say = say
        self.total: int | None = None  # the body's size, when the server says it
        self.done = 0  # bytes hashed and handed on
        self.resumes = 0
        self._validator = ""
        self._ranges = False
        self._response: Any = None

    # --- the first response --------------------------------------------------------
    def open(self) -> None:
        """Make the first request (with retries), so `total` is known before any write."""
        self._response = self._with_retries(lambda: self._request(0))

    def _request(self, offset: int) -> Any:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        if offset and self._validator:
            headers["If-Range"] = self._validator
        try:
            response = self._send(headers)
        except BROKEN as e:
            raise _Transient(f"{type(e).__name__}: {e}") from None
        status = response.status_code
        if status in RETRY_STATUS:
            response.close()
            raise _Transient(f"HTTP {status}")
        if status not in (200, 206):
            response.close()
            hint = " (not found: check the URL)" if status == 404 else ""
            raise DownloadError(f"{self.what}: the server answered HTTP {status}{hint}")
        validator = response.headers.get("ETag") or response.headers.get("Last-Modified") or ""
        if offset == 0 or not self._validator:
            self._validator = validator
            self._ranges = response.headers.get("Accept-Ranges", "").lower() == "bytes"
        if status == 200:
            self._whole_body_again(response, offset, validator)
        else:
            self._check_range(response, offset)
        return response

    def _whole_body_again(self, response: Any, offset: int, validator: str) -> None:
        if offset and self._validator and validator != self._validator:
            response.close()
            raise DownloadError(
                f"{self.what} changed on the server during the download "
                f"({self._validator} → {validator}): run the action again"
            )
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit():
            self.total = int(length)
        if offset:  # no ranges here: read past the part already hashed and written
            self._skip(response, offset)

    def _check_range(self, response: Any, offset: int) -> None:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != offset:
            response.close()
            raise _Transient(f"the server sent a range other than bytes {offset}-")
        if match.group(3) != "*":
            self.total = int(match.group(3))

    def _skip(self, response: Any, count: int) -> None:
        while count:
            data = self._read(response, min(CHUNK, count))
            if not data:
                raise _Transient("the body ended before the part already read")
            count -= len(data)

    # --- the body ------------------------------------------------------------------
    def chunks(self, hasher: Hash) -> Iterator[bytes]:
        """The body, hashed into `hasher` as it goes; resumes after a broken connection."""
        if self._response is None:
            self.open()
        failures, since = 0, 0.0
        while True:
            try:
                while True:
                    if self._cancelled.is_set():
                        raise DownloadError(f"{self.what}: cancelled")
                    data = self._read(self._response, CHUNK)
                    if not data:
                        break
                    hasher.update(data)
                    self.done += len(data)
                    failures = 0
                    yield data
                if self.total is not None and self.done < self.total:
                    raise _Transient(f"the body ended at byte {self.done} of {self.total}")
                self._response.close()
                return
            except _Transient as e:
                self._response.close()
                failures, since = failures + 1, since if failures else time.monotonic()
                self._response = self._after_failure(str(e), failures, since)

    def _after_failure(self, reason: str, failures: int, since: float) -> Any:
        """Resume after a broken body, retrying the request itself as the policy allows."""
        while True:
            if self.retry.gives_up(failures, since):
                raise DownloadError(
                    f"{self.what}: gave up after {failures} failed attempts in a row "
                    f"(last: {reason}); set RETRY_ENABLED=true and RETRY_DURATION_MINUTES "
                    "to keep trying longer"
                )
            self._pause(failures)
            self.resumes += 1
            how = "Range" if self._ranges else "the whole body again (no ranges)"
            self._say(f"{self.what}: {reason}; resuming at byte {self.done} with {how}")
            try:
                return self._request(self.done)
            except _Transient as e:
                failures, reason = failures + 1, str(e)

    def _with_retries(self, request: Callable[[], Any]) -> Any:
        failures, since = 0, time.monotonic()
        while True:
            try:
                return request()
            except _Transient as e:
                failures += 1
                if self.retry.gives_up(failures, since):
                    raise DownloadError(
                        f"{self.what}: cannot fetch it ({e}) after {failures} attempts; "
                        "set RETRY_ENABLED=true and RETRY_DURATION_MINUTES to keep trying longer"
                    ) from None
                self._say(f"{self.what}: {e}; trying again")
                self._pause(failures)

    def _pause(self, failures: int) -> None:
        delay = min(BACKOFF_FIRST * 2 ** (failures - 1), BACKOFF_MAX)
        if self._cancelled.wait(delay):
            raise DownloadError(f"{self.what}: cancelled")

    @staticmethod
    def _read(response: Any, size: int) -> bytes:
        try:
            data: bytes = response.raw.read(size, decode_content=False)
            return data
        except BROKEN as e:
            raise _Transient(f"the connection broke: {type(e).__name__}: {e}") from None

    def tail(self, count: int) -> bytes | None:
        """The body's last `count` bytes by a separate Range request, if the server offers
        ranges and said the size; None otherwise (it is only ever a hint)."""
        if not self._ranges or self.total is None or self.total < count:
            return None
        headers = {"Range": f"bytes={self.total - count}-"}
        if self._validator:
            headers["If-Range"] = self._validator
        try:
            response = self._send(headers)
            data: bytes = response.raw.read(count + 1, decode_content=False)
            response.close()
        except BROKEN:
            return None
        return data if response.status_code == 206 and len(data) == count else None

    def close(self) -> None:
        if self._response is not None:
            self._response.close()


def fetch_text(url: str, what: str, limit: int = 1 << 20) -> str:
    """A small text file (a checksum file), with the same retries as a download."""
    download = Download(what, http_get(url))
    parts: list[bytes] = []

    class _Count:
        size = 0

        def update(self, data: bytes) -> None:
            self.size += len(data)
            if self.size > limit:
                raise DownloadError(f"{what}: larger than {limit} bytes; is it a checksum file?")

    for data in download.chunks(_Count()):
        parts.append(data)
    return b"".join(parts).decode(errors="replace")
