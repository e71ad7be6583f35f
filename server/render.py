"""The one place the server calls the template renderer and the Tinkerbell object reader
(`server.tinkerbell`, over `server.gotemplate`): everything else sees only
`PlannedWorkflow`, `HardwareRecord` and the two document types below, and every
`TinkerbellError` becomes a 422 whose message names the document, line and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from server import tinkerbell as tb
from server.errors import BadRequest
from server.plan import PlannedAction, PlannedWorkflow
from server.store.hardware import HardwareRecord


class TemplateProblem(BadRequest):
    """A template or object file that cannot be used; the message names line and field."""

    code = "invalid_template"


class HardwareProblem(BadRequest):
    code = "invalid_hardware"


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
    toggle_netboot: bool = True


Document = HardwareRecord | TemplateDoc | WorkflowDoc


def check_template(source: str) -> str:
    """Validate a template at upload (it renders over placeholder hardware and reads as a
    workflow); returns its `name`."""
    try:
        return str(tb.check_template(source).name)
    except tb.TinkerbellError as err:
        raise TemplateProblem(f"template: {err}") from None


def _hardware(record: HardwareRecord) -> Any:
    try:
        return tb.Hardware(record.name, record.spec, labels=record.labels)
    except tb.TinkerbellError as err:
        raise HardwareProblem(f"hardware {record.name}: {err}") from None


def check_hardware(record: HardwareRecord) -> None:
    """The record is a valid Tinkerbell HardwareSpec (what templates will be given)."""
    _hardware(record)


def plan(source: str, record: HardwareRecord, hardware_map: Mapping[str, str]) -> PlannedWorkflow:
    """Render `source` for this hardware and map: the actions the server will serve."""
    try:
        rendered = tb.render_workflow(source, _hardware(record), hardware_map)
    except tb.TinkerbellError as err:
        raise TemplateProblem(f"rendering for {record.name}: {err}") from None
    actions = [
        PlannedAction(
            task=task.name,
            worker=task.worker,
            name=a.name,
            image=a.image,
            timeout=a.timeout,
            retries=a.retries,
            command=tuple(a.command),
            environment=dict(a.environment),
            volumes=tuple(a.volumes),
            pid=a.pid,
        )
        for task in rendered.tasks
        for a in task.actions
    ]
    return PlannedWorkflow(rendered.name, rendered.global_timeout, tuple(actions))


def _document(obj: Any) -> Document:
    if isinstance(obj, tb.Hardware):
        netboot_given = any(i.netboot is not None for i in obj.interfaces)
        allow = obj.allow_pxe if netboot_given else True
        return HardwareRecord(obj.name, dict(obj.spec), allow, dict(obj.labels))
    if isinstance(obj, tb.TemplateObject):
        return TemplateDoc(obj.name, obj.data)
    if obj.disabled:
        raise TemplateProblem(
            f"workflow {obj.name}: spec.disabled is not supported here; "
            "apply the Workflow when it should run"
        )
    return WorkflowDoc(
        obj.name,
        obj.template_ref,
        obj.hardware_ref,
        dict(obj.hardware_map),
        obj.toggle_allow_netboot,
    )


def parse_documents(text: str) -> list[Document]:
    """Tinkerbell's Hardware, Template and Workflow objects (v1alpha1) in one YAML stream."""
    try:
        return [_document(obj) for obj in tb.parse_objects(text)]
    except tb.TinkerbellError as err:
        raise TemplateProblem(str(err)) from None
