"""A workflow as rendered from its template, before it is stored: what the server keeps
and serves. The render adapter builds these; nothing here knows about templates."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PlannedAction:
    task: str
    worker: str  # as rendered: a MAC or a hardware name
    name: str
    image: str
    timeout: int
    retries: int = 0
    command: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    pid: str = ""


@dataclass(frozen=True)
class PlannedWorkflow:
    name: str  # the template's `name`
    global_timeout: int
    actions: tuple[PlannedAction, ...]
