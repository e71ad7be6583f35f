"""The machine API on the wire: paths, state names and JSON shapes, for both sides.

The worker (frozen into the initramfs) and the server (FastAPI) import this one module, so
it depends on the standard library alone. Each shape is a frozen dataclass with `to_json()`
and a `from_json()` that checks what it reads and raises `WireError` naming the field.
The server's pydantic models are checked against these by a test.

Every call after lookup carries `Authorization: Bearer TOKEN`, the per-boot token lookup
gave. Errors are `Problem` bodies: 401 no or wrong token, 403 another machine's workflow or
action, 404 with code `unknown_machine` for a lookup nobody knows (retry later), 409 a report
that contradicts what is stored.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

PREFIX = "/api/v1/machine"
LOOKUP = PREFIX + "/lookup"  # POST LookupRequest → LookupReply | 404 Problem(unknown_machine)
NEXT = PREFIX + "/next"  # POST {} → NextReply
REPORT = PREFIX + "/report"  # POST Report → ReportReply
HEARTBEAT = PREFIX + "/heartbeat"  # POST Heartbeat → HeartbeatReply
LOG = PREFIX + "/log"  # POST LogLines → LogReply
UPLOAD = PREFIX + "/artifacts/{name}"  # PUT raw bytes (slurp) → Uploaded
UPLOAD_SHA256 = "X-Checksum-Sha256"  # optional header on UPLOAD: hex digest, checked on arrival

UNKNOWN_MACHINE = "unknown_machine"
BAD_TOKEN = "bad_token"
FORBIDDEN = "forbidden"
CONFLICT = "conflict"


class WireError(ValueError):
    """A body that does not have the shape this module defines."""


class WorkflowState(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"

    @property
    def ended(self) -> bool:
        return self in (WorkflowState.SUCCESS, WorkflowState.FAILED, WorkflowState.TIMEOUT)


class ActionState(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"

    @property
    def ended(self) -> bool:
        return self in (ActionState.SUCCESS, ActionState.FAILED, ActionState.TIMEOUT)


class NextKind(enum.Enum):
    ACTION = "action"  # run `action`
    WAIT = "wait"  # nothing to do yet (no workflow, or another worker's turn): ask again
    DONE = "done"  # the workflow ended SUCCESS
    FAILED = "failed"  # the workflow ended FAILED or TIMEOUT: follow metalinit.on_failure=


def _get(body: Any, key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    if not isinstance(body, dict):
        raise WireError(f"{where}: expected an object")
    if key not in body or body[key] is None:
        if default is ...:
            raise WireError(f"{where}.{key}: missing")
        return default
    value = body[key]
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise WireError(f"{where}.{key}: expected a number, not a boolean")
    if not isinstance(value, kind):
        raise WireError(f"{where}.{key}: expected {getattr(kind, '__name__', kind)}")
    return value


def _strings(body: Any, key: str, where: str) -> tuple[str, ...]:
    value = _get(body, key, list, where, [])
    if not all(isinstance(item, str) for item in value):
        raise WireError(f"{where}.{key}: expected a list of strings")
    return tuple(value)


def _string_map(body: Any, key: str, where: str) -> dict[str, str]:
    value = _get(body, key, dict, where, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise WireError(f"{where}.{key}: expected an object of strings")
    return dict(value)


def _enum(cls: type[enum.Enum], body: Any, key: str, where: str) -> Any:
    text = _get(body, key, str, where)
    try:
        return cls(text)
    except ValueError:
        names = ", ".join(m.value for m in cls)
        raise WireError(f"{where}.{key}: {text!r} is not one of {names}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class _Shape:
    def to_json(self) -> dict[str, Any]:
        return dict(_plain(asdict(self)))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Problem(_Shape):
    detail: str
    code: str = ""
    retry_after: float | None = None

    @classmethod
    def from_json(cls, body: Any) -> Problem:
        detail = body.get("detail") if isinstance(body, dict) else None
        if not isinstance(detail, str):  # FastAPI's own errors carry a list here
            detail = str(detail)
        return cls(detail, str(body.get("code") or ""), body.get("retry_after"))


@dataclass(frozen=True)
class LookupRequest(_Shape):
    macs: tuple[str, ...]
    inventory: dict[str, Any] = field(default_factory=dict)
    agent_version: str = ""

    @classmethod
    def from_json(cls, body: Any) -> LookupRequest:
        macs = _strings(body, "macs", "lookup")
        if not macs:
            raise WireError("lookup.macs: at least one MAC")
        return cls(macs, _get(body, "inventory", dict, "lookup", {}),
                   _get(body, "agent_version", str, "lookup", ""))  # fmt: skip


@dataclass(frozen=True)
class LookupReply(_Shape):
    token: str
    hardware: str
    heartbeat_seconds: float = 10.0
    poll_seconds: float = 5.0
    backoff_initial: float = 1.0
    backoff_max: float = 60.0

    @classmethod
    def from_json(cls, body: Any) -> LookupReply:
        w = "lookup reply"
        num = (int, float)
        return cls(
            _get(body, "token", str, w),
            _get(body, "hardware", str, w),
            float(_get(body, "heartbeat_seconds", num, w, 10.0)),
            float(_get(body, "poll_seconds", num, w, 5.0)),
            float(_get(body, "backoff_initial", num, w, 1.0)),
            float(_get(body, "backoff_max", num, w, 60.0)),
        )


@dataclass(frozen=True)
class ActionSpec(_Shape):
    """One action, rendered: what the worker runs. `attempt` counts from 1."""

    id: str
    workflow: str
    task: str
    name: str
    image: str
    timeout: int
    attempt: int = 1
    retries: int = 0
    command: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    pid: str = ""

    @classmethod
    def from_json(cls, body: Any) -> ActionSpec:
        w = "action"
        return cls(
            _get(body, "id", str, w),
            _get(body, "workflow", str, w),
            _get(body, "task", str, w),
            _get(body, "name", str, w),
            _get(body, "image", str, w),
            _get(body, "timeout", int, w),
            _get(body, "attempt", int, w, 1),
            _get(body, "retries", int, w, 0),
            _strings(body, "command", w),
            _string_map(body, "environment", w),
            _strings(body, "volumes", w),
            _get(body, "pid", str, w, ""),
        )


@dataclass(frozen=True)
class NextReply(_Shape):
    kind: NextKind
    action: ActionSpec | None = None
    workflow: str = ""
    message: str = ""  # why FAILED, or what the machine waits for
    retry_after: float = 5.0
    rescue: bool = False  # an operator asked for the rescue shell

    @classmethod
    def from_json(cls, body: Any) -> NextReply:
        kind = _enum(NextKind, body, "kind", "next")
        raw = _get(body, "action", dict, "next", None)
        if kind is NextKind.ACTION and raw is None:
            raise WireError("next.action: missing for kind 'action'")
        return cls(
            kind,
            ActionSpec.from_json(raw) if raw is not None else None,
            _get(body, "workflow", str, "next", ""),
            _get(body, "message", str, "next", ""),
            float(_get(body, "retry_after", (int, float), "next", 5.0)),
            _get(body, "rescue", bool, "next", False),
        )


@dataclass(frozen=True)
class Report(_Shape):
    """A state change of one attempt of one action. The same report twice is stored once:
    (action_id, attempt, state) is its identity."""

    action_id: str
    attempt: int
    state: ActionState
    message: str = ""
    seconds: float | None = None  # measured by the worker's monotonic clock

    @classmethod
    def from_json(cls, body: Any) -> Report:
        w = "report"
        seconds = _get(body, "seconds", (int, float), w, None)
        return cls(
            _get(body, "action_id", str, w),
            _get(body, "attempt", int, w),
            _enum(ActionState, body, "state", w),
            _get(body, "message", str, w, ""),
            None if seconds is None else float(seconds),
        )


@dataclass(frozen=True)
class ReportReply(_Shape):
    stored: bool  # False: this report was already stored
    workflow_state: WorkflowState
    retry: bool = False  # a FAILED/TIMEOUT attempt with retries left: the action comes again

    @classmethod
    def from_json(cls, body: Any) -> ReportReply:
        return cls(
            _get(body, "stored", bool, "report reply"),
            _enum(WorkflowState, body, "workflow_state", "report reply"),
            _get(body, "retry", bool, "report reply", False),
        )


@dataclass(frozen=True)
class Progress(_Shape):
    done: int
    total: int | None = None
    unit: str = "bytes"

    @classmethod
    def from_json(cls, body: Any) -> Progress:
        return cls(
            _get(body, "done", int, "progress"),
            _get(body, "total", int, "progress", None),
            _get(body, "unit", str, "progress", "bytes"),
        )


@dataclass(frozen=True)
class Heartbeat(_Shape):
    action_id: str | None = None
    attempt: int | None = None
    progress: Progress | None = None

    @classmethod
    def from_json(cls, body: Any) -> Heartbeat:
        raw = _get(body, "progress", dict, "heartbeat", None)
        return cls(
            _get(body, "action_id", str, "heartbeat", None),
            _get(body, "attempt", int, "heartbeat", None),
            Progress.from_json(raw) if raw is not None else None,
        )


@dataclass(frozen=True)
class HeartbeatReply(_Shape):
    cancel: bool = False  # the workflow ended on the server (global_timeout): stop the action
    rescue: bool = False
    message: str = ""

    @classmethod
    def from_json(cls, body: Any) -> HeartbeatReply:
        w = "heartbeat reply"
        return cls(
            _get(body, "cancel", bool, w, False),
            _get(body, "rescue", bool, w, False),
            _get(body, "message", str, w, ""),
        )


@dataclass(frozen=True)
class LogLines(_Shape):
    """Lines of an attempt's output; `first` numbers the first line (from 0), so a batch
    sent again after a lost reply is stored once."""

    action_id: str
    attempt: int
    first: int
    lines: tuple[str, ...]

    @classmethod
    def from_json(cls, body: Any) -> LogLines:
        w = "log"
        first = _get(body, "first", int, w)
        if first < 0:
            raise WireError("log.first: must be 0 or more")
        return cls(_get(body, "action_id", str, w), _get(body, "attempt", int, w), first,
                   _strings(body, "lines", w))  # fmt: skip


@dataclass(frozen=True)
class LogReply(_Shape):
    stored: int  # how many of the lines were new

    @classmethod
    def from_json(cls, body: Any) -> LogReply:
        return cls(_get(body, "stored", int, "log reply"))


@dataclass(frozen=True)
class Uploaded(_Shape):
    name: str
    size: int
    sha256: str
    url: str  # where /artifacts/ serves it

    @classmethod
    def from_json(cls, body: Any) -> Uploaded:
        w = "upload reply"
        return cls(_get(body, "name", str, w), _get(body, "size", int, w),
                   _get(body, "sha256", str, w), _get(body, "url", str, w))  # fmt: skip
