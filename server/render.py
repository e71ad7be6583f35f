"""The one place the server calls the template renderer and the Tinkerbell object reader
(`server.tinkerbell`, `server.gotemplate`): everything else sees only `PlannedWorkflow`,
`HardwareSpec` and the two document types below.

INTERIM: until `server.tinkerbell` is merged, `_Interim` stands in for it so the machine
API can be built and tested. It renders nothing: a template holding `{{` is refused, and
it reads YAML with PyYAML's string-only loader. It goes when the renderer lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from server.errors import BadRequest
from server.plan import PlannedAction, PlannedWorkflow
from server.store.hardware import HardwareSpec

MAX_DOCUMENT = 1024 * 1024


class TemplateProblem(BadRequest):
    """A template or object file that cannot be used; the message names line and field."""

    code = "invalid_template"


@dataclass(frozen=True)
class TemplateDoc:
    name: str
    data: str


@dataclass(frozen=True)
class WorkflowDoc:
    name: str
    template_ref: str
    hardware_ref: str
    hardware_map: dict[str, str] = field(default_factory=dict)
    toggle_netboot: bool = False


Document = HardwareSpec | TemplateDoc | WorkflowDoc


def check_template(source: str) -> str:
    """Validate a template at upload; returns its `name`."""
    return _Interim.check(source)


def plan(source: str, hardware: HardwareSpec, hardware_map: dict[str, str]) -> PlannedWorkflow:
    """Render `source` for this hardware and map: the actions the server will serve."""
    return _Interim.plan(source)


def parse_documents(text: str) -> list[Document]:
    """Tinkerbell's Hardware, Template and Workflow objects (v1alpha1) in one YAML stream."""
    return _Interim.documents(text)


class _Interim:
    """Stand-in for server.tinkerbell until it is merged (see the module docstring)."""

    @staticmethod
    def _load(source: str) -> Any:
        if len(source) > MAX_DOCUMENT:
            raise TemplateProblem(f"template: over {MAX_DOCUMENT} bytes")
        if "{{" in source:
            raise TemplateProblem("template: {{ … }} needs the renderer, not installed yet")
        try:
            return yaml.load(source, Loader=yaml.BaseLoader)  # strings only
        except yaml.YAMLError as err:
            raise TemplateProblem(f"template: not YAML: {err}") from None

    @staticmethod
    def check(source: str) -> str:
        return _Interim.plan(source).name

    @staticmethod
    def plan(source: str) -> PlannedWorkflow:
        doc = _Interim._load(source)
        if not isinstance(doc, dict) or not doc.get("tasks"):
            raise TemplateProblem("template: no tasks")
        actions = []
        for task in doc["tasks"]:
            for a in task.get("actions") or []:
                env = {**(task.get("environment") or {}), **(a.get("environment") or {})}
                actions.append(
                    PlannedAction(
                        task=task["name"],
                        worker=task.get("worker", ""),
                        name=a["name"],
                        image=a["image"],
                        timeout=int(a.get("timeout", 0) or 0),
                        retries=int(a.get("retries", 0) or 0),
                        command=tuple(a.get("command") or ()),
                        environment=env,
                        volumes=tuple((task.get("volumes") or []) + (a.get("volumes") or [])),
                        pid=a.get("pid", ""),
                    )
                )
        return PlannedWorkflow(
            doc.get("name", ""), int(doc.get("global_timeout", 0) or 0), tuple(actions)
        )

    @staticmethod
    def documents(text: str) -> list[Document]:
        out: list[Document] = []
        for doc in yaml.safe_load_all(text):
            kind, meta, spec = doc.get("kind"), doc.get("metadata") or {}, doc.get("spec") or {}
            if kind == "Template":
                out.append(TemplateDoc(meta["name"], spec["data"]))
            elif kind == "Workflow":
                out.append(
                    WorkflowDoc(
                        meta["name"],
                        spec["templateRef"],
                        spec["hardwareRef"],
                        {k: str(v) for k, v in (spec.get("hardwareMap") or {}).items()},
                        bool((spec.get("bootOptions") or {}).get("toggleAllowNetboot")),
                    )
                )
            elif kind == "Hardware":
                out.append(
                    HardwareSpec(
                        meta["name"],
                        disks=tuple(d["device"] for d in spec.get("disks") or []),
                        interfaces=tuple(spec.get("interfaces") or ()),
                        metadata=spec.get("metadata") or {},
                        user_data=spec.get("userData") or "",
                    )
                )
        return out
