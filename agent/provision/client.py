"""The machine API's client: one method per call in `agent.provision.wire`, on `requests`.

Every failure becomes one of the `ClientError` kinds below, each telling the worker what
to do next: `Unreachable` and `ServerFault` — wait and try again; `UnknownMachine` — the
server does not know this machine yet, ask again later; `BadToken` — look up again for a
fresh token; `Refused` — the server will never take this request, do not send it again.

Each thread gets its own `requests.Session` (the worker's main loop, the sender of reports
and log lines, and the heartbeat talk at once); the token is shared and set after lookup.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from agent.errors import AgentError
from agent.provision import wire

# The initramfs carries no character-set detector (requests needs none for JSON bodies, and
# charset_normalizer is 1 MB): keep requests' import-time warning about it off the console.
warnings.filterwarnings("ignore", message="Unable to find acceptable character detection")
import requests  # noqa: E402

CONNECT_SECONDS = 10.0
READ_SECONDS = 30.0
PROBLEM_TEXT_LIMIT = 300

T = TypeVar("T")


class ClientError(AgentError):
    """A call that did not get its answer; `retry_after` is the server's hint, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unreachable(ClientError):
    """No answer: connection refused or dropped, a timeout, a name that does not resolve."""


class ServerFault(ClientError):
    """The server answered 5xx, or something that is not the machine API's reply."""


class UnknownMachine(ClientError):
    """404 unknown_machine: no hardware with any of these MACs (yet)."""


class BadToken(ClientError):
    """401: the token is missing, wrong or from an earlier lookup."""


class Refused(ClientError):
    """Another 4xx (403, 404, 409, 422): sending the same request again cannot help."""


class MachineClient:
    def __init__(self, server: str, token: str = "", *, verify: bool | str = True) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.verify = verify
        self._local = threading.local()

    def lookup(self, request: wire.LookupRequest) -> wire.LookupReply:
        return self._post(wire.LOOKUP, request.to_json(), wire.LookupReply.from_json, auth=False)

    def next(self) -> wire.NextReply:
        return self._post(wire.NEXT, {}, wire.NextReply.from_json)

    def report(self, report: wire.Report) -> wire.ReportReply:
        return self._post(wire.REPORT, report.to_json(), wire.ReportReply.from_json)

    def heartbeat(self, beat: wire.Heartbeat) -> wire.HeartbeatReply:
        return self._post(wire.HEARTBEAT, beat.to_json(), wire.HeartbeatReply.from_json)

    def log(self, lines: wire.LogLines) -> wire.LogReply:
        return self._post(wire.LOG, lines.to_json(), wire.LogReply.from_json)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["User-Agent"] = "metalinit-worker"
        return session

    def _post(
        self, path: str, body: dict[str, Any], parse: Callable[[Any], T], *, auth: bool = True
    ) -> T:
        url = self.server + path
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        try:
            reply = self._session().post(
                url,
                json=body,
                headers=headers,
                verify=self.verify,
                timeout=(CONNECT_SECONDS, READ_SECONDS),
            )
        except requests.RequestException as err:
            raise Unreachable(f"POST {url}: {_reason(err)}") from None
        return _answer(reply, path, parse)


def _answer(reply: requests.Response, path: str, parse: Callable[[Any], T]) -> T:
    where = f"POST {path}"
    try:
        body = json.loads(reply.content) if reply.content else None
    except ValueError:
        body = None
    if 200 <= reply.status_code < 300:
        try:
            return parse(body)
        except wire.WireError as err:
            raise ServerFault(f"{where}: the reply is not the machine API's ({err})") from None
    problem = wire.Problem.from_json(body if isinstance(body, dict) else {"detail": _text(reply)})
    message = f"{where}: {reply.status_code} {problem.detail}"
    status, retry_after = reply.status_code, problem.retry_after or _retry_after(reply)
    if status >= 500:
        raise ServerFault(message, retry_after)
    if status == 401:
        raise BadToken(message)
    if status == 404 and problem.code == wire.UNKNOWN_MACHINE:
        raise UnknownMachine(message, retry_after)
    if status in (408, 429):  # the server asks to be asked again later
        raise ServerFault(message, retry_after)
    raise Refused(message)


def _text(reply: requests.Response) -> str:
    text = reply.content[:PROBLEM_TEXT_LIMIT].decode("utf-8", "replace").strip()
    return text or reply.reason or "no reason given"


def _retry_after(reply: requests.Response) -> float | None:
    try:
        return float(reply.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _reason(err: requests.RequestException) -> str:
    """The innermost cause ("[Errno 111] Connection refused"), not urllib3's three layers
    of wrapping around it."""
    cause: BaseException = err
    while (inner := cause.__cause__ or cause.__context__) is not None:
        cause = inner
    text = str(cause) or type(cause).__name__
    return f"timed out ({text})" if isinstance(err, requests.Timeout) else text
