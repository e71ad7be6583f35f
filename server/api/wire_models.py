"""The machine API's bodies as pydantic models, field for field the dataclasses of
`agent.provision.wire` (a test holds them to it), plus the size limits a server needs.
Requests accept unknown fields (a newer worker may send more); replies are built from
the wire dataclasses themselves."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from agent.provision.wire import ActionState, NextKind, WorkflowState

Name = Annotated[str, Field(max_length=200)]
Text = Annotated[str, Field(max_length=64 * 1024)]
Count = Annotated[StrictInt, Field(ge=0, le=2**62)]
Seconds = Annotated[StrictFloat | StrictInt, Field(ge=0, le=10**9)]
Attempt = Annotated[StrictInt, Field(ge=1, le=10**6)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Problem(_Body):
    detail: str
    code: str = ""
    retry_after: float | None = None


class LookupRequest(_Body):
    macs: tuple[Annotated[str, Field(max_length=64)], ...] = Field(min_length=1, max_length=64)
    inventory: dict[str, Any] = Field(default_factory=dict)
    agent_version: Annotated[str, Field(max_length=100)] = ""


class LookupReply(_Body):
    token: str
    hardware: str
    heartbeat_seconds: float = 10.0
    poll_seconds: float = 5.0
    backoff_initial: float = 1.0
    backoff_max: float = 60.0


class ActionSpec(_Body):
    id: str
    workflow: str
    task: str
    name: str
    image: str
    timeout: int
    attempt: int = 1
    retries: int = 0
    command: tuple[str, ...] = ()
    environment: dict[str, str] = Field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    pid: str = ""


class NextRequest(_Body):
    """NEXT takes an empty object; nothing in it is read."""


class NextReply(_Body):
    kind: NextKind
    action: ActionSpec | None = None
    workflow: str = ""
    message: str = ""
    retry_after: float = 5.0
    rescue: bool = False


class Report(_Body):
    action_id: Name
    attempt: Attempt
    state: ActionState
    message: Text = ""
    seconds: Seconds | None = None


class ReportReply(_Body):
    stored: bool
    workflow_state: WorkflowState
    retry: bool = False


class Progress(_Body):
    done: Count
    total: Count | None = None
    unit: Annotated[str, Field(max_length=20)] = "bytes"


class Heartbeat(_Body):
    action_id: Name | None = None
    attempt: Attempt | None = None
    progress: Progress | None = None


class HeartbeatReply(_Body):
    cancel: StrictBool = False
    rescue: StrictBool = False
    message: str = ""


class LogLines(_Body):
    action_id: Name
    attempt: Attempt
    first: Annotated[StrictInt, Field(ge=0, le=10**9)]
    lines: tuple[Annotated[str, Field(max_length=1024 * 1024)], ...] = Field(max_length=5000)


class LogReply(_Body):
    stored: int


class Uploaded(_Body):
    name: str
    size: int
    sha256: str
    url: str
