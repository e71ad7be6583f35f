"""The admin API's bodies: what the CLI sends and shows. Times are Unix seconds (the
server's clock). Action environments are never shown here, only their keys: values may
be secrets and go to the machine whose workflow it is, nowhere else."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from agent.provision.wire import ActionState, WorkflowState

Name = Annotated[str, Field(min_length=1, max_length=199, pattern=r"^[^\s/]+$")]
Key = Annotated[str, Field(max_length=64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HardwareIn(_Body):
    macs: list[Key] = Field(default_factory=list, max_length=64)
    disks: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=64)
    interfaces: list[dict[str, Any]] = Field(default_factory=list, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)
    user_data: Annotated[str, Field(max_length=1024 * 1024)] = ""
    allow_netboot: bool = True
    spec: dict[str, Any] | None = None  # a whole Tinkerbell HardwareSpec, the others on top
    labels: dict[Key, Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=dict, max_length=64
    )  # free-form


class HardwareView(BaseModel):
    name: str
    macs: list[str]
    disks: list[str]
    interfaces: list[dict[str, Any]]
    metadata: dict[str, Any]
    user_data: str
    spec: dict[str, Any]  # Tinkerbell's HardwareSpec, as templates see it
    labels: dict[str, str]
    allow_netboot: bool
    inventory: dict[str, Any] | None
    inventory_at: float | None
    agent_version: str | None
    address: str | None
    last_seen_at: float | None
    created_at: float
    updated_at: float


class UnknownView(BaseModel):
    mac: str
    macs: list[str]
    first_seen: float
    last_seen: float
    lookups: int
    address: str | None
    inventory: dict[str, Any] | None


class TemplateIn(_Body):
    data: Annotated[str, Field(min_length=1, max_length=1024 * 1024)]
    name: Name | None = None  # default: the template's own `name`


class TemplateView(BaseModel):
    name: str
    data: str
    created_at: float
    updated_at: float


class WorkflowIn(_Body):
    template: Name
    hardware_map: dict[Key, Annotated[str, Field(max_length=1024)]] = Field(max_length=64)
    hardware: Name | None = None  # whose record is .Hardware; default: device_1's
    name: Name | None = None
    toggle_allow_netboot: bool = True  # False: netboot stays on after the workflow succeeds


class RetryIn(_Body):
    from_action: Annotated[str, Field(max_length=400)] | None = None


class ProgressView(BaseModel):
    done: int
    total: int | None
    unit: str


class AttemptView(BaseModel):
    attempt: int
    state: ActionState
    message: str
    seconds: float | None
    at: float
    by_server: bool


class ActionView(BaseModel):
    id: str
    task: str
    worker: str
    hardware: str
    name: str
    image: str
    timeout: int
    retries: int
    command: list[str]
    environment_keys: list[str]
    volumes: list[str]
    pid: str
    state: ActionState
    attempt: int
    started_at: float | None
    stopped_at: float | None
    seconds: float | None
    message: str
    progress: ProgressView | None
    heartbeat_at: float | None
    reports: list[AttemptView]


class WorkflowView(BaseModel):
    id: str
    name: str | None
    template: str
    hardware: str
    hardware_map: dict[str, str]
    state: WorkflowState
    global_timeout: int
    started_at: float | None
    stopped_at: float | None
    message: str
    created_at: float
    server_time: float  # the server's clock when it answered, to time running actions by
    actions: list[ActionView]


class WorkflowSummary(BaseModel):
    id: str
    name: str | None
    template: str
    hardware: str
    state: WorkflowState
    created_at: float
    started_at: float | None
    stopped_at: float | None
    message: str


class LogLine(BaseModel):
    action: str
    task: str
    attempt: int
    n: int
    text: str


class LogPage(BaseModel):
    lines: list[LogLine]
    next_offset: int | None


class ApplyIn(_Body):
    yaml: Annotated[str, Field(min_length=1, max_length=4 * 1024 * 1024)]


class Applied(BaseModel):
    kind: str
    name: str
    id: str | None = None
    created: bool


class NetbootIn(_Body):
    allow: bool


class Deleted(BaseModel):
    deleted: str
