"""INTERIM stand-in for `server.tinkerbell` until it is merged, so the machine API can be
built and tested: it renders nothing (a template holding `{{` is refused) and reads YAML
with PyYAML's string-only loader. `server.render` uses it only when `server.tinkerbell`
cannot be imported; it goes when the renderer lands."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_DOCUMENT = 1024 * 1024


class TinkerbellError(ValueError):
    pass


@dataclass(frozen=True)
class TemplateInfo:
    name: str


@dataclass(frozen=True)
class RenderedAction:
    name: str
    image: str
    timeout: int
    command: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    pid: str = ""
    retries: int = 0


@dataclass(frozen=True)
class RenderedTask:
    name: str
    worker: str
    actions: tuple[RenderedAction, ...]


@dataclass(frozen=True)
class RenderedWorkflow:
    name: str
    global_timeout: int
    tasks: tuple[RenderedTask, ...]


@dataclass(frozen=True)
class Netboot:
    allow_pxe: bool | None = None


@dataclass(frozen=True)
class Interface:
    netboot: Netboot | None = None


@dataclass(frozen=True)
class Hardware:
    name: str
    spec: Mapping[str, Any] = field(default_factory=dict)
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def interfaces(self) -> tuple[Interface, ...]:
        out = []
        for i in self.spec.get("interfaces") or []:
            nb = i.get("netboot")
            out.append(Interface(Netboot(nb.get("allowPXE")) if isinstance(nb, dict) else None))
        return tuple(out)

    @property
    def allow_pxe(self) -> bool:
        return any(i.netboot is not None and i.netboot.allow_pxe for i in self.interfaces)


@dataclass(frozen=True)
class TemplateObject:
    name: str
    data: str


@dataclass(frozen=True)
class WorkflowObject:
    name: str
    template_ref: str
    hardware_ref: str = ""
    hardware_map: Mapping[str, str] = field(default_factory=dict)
    toggle_allow_netboot: bool = True
    disabled: bool = False


TinkerbellObject = Hardware | TemplateObject | WorkflowObject


def _load(source: str) -> Any:
    if len(source) > MAX_DOCUMENT:
        raise TinkerbellError(f"over {MAX_DOCUMENT} bytes")
    if "{{" in source:
        raise TinkerbellError("{{ … }} needs the renderer, not installed yet")
    try:
        return yaml.load(source, Loader=yaml.BaseLoader)  # strings only
    except yaml.YAMLError as err:
        raise TinkerbellError(f"not YAML: {err}") from None


def _read(source: str) -> RenderedWorkflow:
    doc = _load(source)
    if not isinstance(doc, dict) or not doc.get("tasks"):
        raise TinkerbellError("no tasks")
    tasks = []
    for task in doc["tasks"]:
        actions = []
        for a in task.get("actions") or []:
            env = {**(task.get("environment") or {}), **(a.get("environment") or {})}
            actions.append(
                RenderedAction(
                    a["name"],
                    a["image"],
                    int(a.get("timeout", 0) or 0),
                    tuple(a.get("command") or ()),
                    env,
                    tuple((task.get("volumes") or []) + (a.get("volumes") or [])),
                    a.get("pid", ""),
                    int(a.get("retries", 0) or 0),
                )
            )
        tasks.append(RenderedTask(task["name"], task.get("worker", ""), tuple(actions)))
    return RenderedWorkflow(
        doc.get("name", ""), int(doc.get("global_timeout", 0) or 0), tuple(tasks)
    )


def check_template(source: str) -> TemplateInfo:
    return TemplateInfo(_read(source).name)


def render_workflow(
    source: str, hardware: Hardware, hardware_map: Mapping[str, str]
) -> RenderedWorkflow:
    return _read(source)


def parse_objects(text: str) -> list[TinkerbellObject]:
    out: list[TinkerbellObject] = []
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as err:
        raise TinkerbellError(f"not YAML: {err}") from None
    for doc in docs:
        if not isinstance(doc, dict):
            raise TinkerbellError("each document must be a Tinkerbell object (a mapping)")
        kind, meta, spec = doc.get("kind"), doc.get("metadata") or {}, doc.get("spec") or {}
        if kind == "Template":
            out.append(TemplateObject(meta["name"], spec["data"]))
        elif kind == "Workflow":
            boot = spec.get("bootOptions") or {}
            out.append(
                WorkflowObject(
                    meta["name"],
                    spec["templateRef"],
                    spec["hardwareRef"],
                    {k: str(v) for k, v in (spec.get("hardwareMap") or {}).items()},
                    bool(boot.get("toggleAllowNetboot", True)),
                )
            )
        elif kind == "Hardware":
            out.append(Hardware(meta["name"], spec))
    return out
