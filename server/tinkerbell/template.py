"""Templates checked at upload and rendered at workflow creation.

`check_template(source)` at upload, for a source that may still hold `{{ }}`:
1. the Go template must parse (a syntax error names its line);
2. it is rendered over placeholder data (`data.probe_data`: rich made-up hardware, and
   "0" for every hardware-map key it uses), with `missingkey=error` still on for
   everything the data has — a runtime error here (a wrong function argument, an index
   past 8 disks) is refused, naming its line;
3. the result must be a valid workflow (`workflow.read_workflow`: fields, names, images,
   duplicates), its errors naming the template line that produced the bad YAML.

`render_workflow(source, hardware, hardware_map)` at workflow creation: the same, over
the real data, and every task's `worker` must have rendered non-empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server.gotemplate import Rendered, TemplateError, check, render_traced
from server.tinkerbell.data import probe_data, template_data
from server.tinkerbell.errors import TinkerbellError
from server.tinkerbell.hardware import Hardware
from server.tinkerbell.workflow import (
    MAX_TEMPLATE_BYTES,
    RenderedWorkflow,
    check_workers,
    read_workflow,
)


@dataclass(frozen=True)
class TemplateInfo:
    """What an uploaded template declares (as rendered over placeholder data)."""

    name: str
    version: str
    global_timeout: int
    tasks: tuple[tuple[str, tuple[str, ...]], ...]  # (task name, its action names)
    templated: bool  # the source holds template actions


def _size_check(source: str) -> None:
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_TEMPLATE_BYTES:
        raise TinkerbellError(
            f"the template is {size} bytes, more than the limit of {MAX_TEMPLATE_BYTES}"
        )


def _render(source: str, data: Any, context: str) -> Rendered:
    try:
        check(source)
    except TemplateError as err:
        raise TinkerbellError(err.message, line=err.line) from None
    try:
        return render_traced(source, data)
    except TemplateError as err:
        raise TinkerbellError(f"{err.message}{context}", line=err.line) from None


def _read(rendered: Rendered) -> RenderedWorkflow:
    try:
        return read_workflow(rendered.text)
    except TinkerbellError as err:
        if not err.line or rendered.text == rendered.template:
            raise
        line = rendered.source_line(err.line)
        raise TinkerbellError(
            f"{err.message} (line {err.line} of the rendered template)", line=line, field=err.field
        ) from None


def check_template(source: str) -> TemplateInfo:
    """Validate a template at upload; raise TinkerbellError naming the line and field."""
    _size_check(source)
    rendered = _render(
        source, probe_data(), " (while checking the template over placeholder hardware)"
    )
    workflow = _read(rendered)
    return TemplateInfo(
        name=workflow.name,
        version=workflow.version,
        global_timeout=workflow.global_timeout,
        tasks=tuple((t.name, tuple(a.name for a in t.actions)) for t in workflow.tasks),
        templated="{{" in source,
    )


def render_workflow(
    source: str, hardware: Hardware, hardware_map: Mapping[str, str]
) -> RenderedWorkflow:
    """Render a template for one machine and validate the result."""
    _size_check(source)
    rendered = _render(source, template_data(hardware, hardware_map), "")
    workflow = _read(rendered)
    try:
        check_workers(workflow)
    except TinkerbellError as err:
        raise TinkerbellError(
            err.message, line=rendered.source_line(err.line), field=err.field
        ) from None
    return workflow
