"""Tinkerbell's objects and workflow templates, read and rendered as Tinkerbell does.

The server calls:

    check_template(source) -> TemplateInfo
        At upload. The source may hold `{{ }}`: it must parse as a Go template, render over
        placeholder hardware, and read as a valid workflow (see template.py).
    render_workflow(source, hardware, hardware_map) -> RenderedWorkflow
        At workflow creation: rendered for real (missingkey=error), validated again, every
        task's worker non-empty. RenderedWorkflow.tasks[].actions[] carry name, image,
        timeout (int seconds), command (tuple), environment (dict[str, str], the task's
        under the action's), volumes (tuple, the task's first), pid, retries (int).
    parse_objects(text) -> list[Hardware | TemplateObject | WorkflowObject]
        `metalinit apply -f`: Tinkerbell's v1alpha1 objects, one or many YAML documents.
    Hardware.simple(name, macs, disks) / Hardware.from_object(json) / .to_object()
        A machine from the command line, or from the store.

Every failure is a TinkerbellError with `.line`, `.field` (and `.document` for files of
several), its `str()` one readable line.

metalinit's own addition to Tinkerbell's template format: `retries: N` on an action, how
many times the worker runs it again after a failed or timed-out attempt (default 0).
"""

from __future__ import annotations

from server.tinkerbell.data import probe_data, template_data
from server.tinkerbell.errors import TinkerbellError
from server.tinkerbell.hardware import DHCP, IP, Hardware, Interface, Netboot, normalise_mac
from server.tinkerbell.objects import (
    TemplateObject,
    TinkerbellObject,
    WorkflowObject,
    parse_objects,
)
from server.tinkerbell.template import TemplateInfo, check_template, render_workflow
from server.tinkerbell.workflow import RenderedAction, RenderedTask, RenderedWorkflow, read_workflow

__all__ = [
    "DHCP",
    "IP",
    "Hardware",
    "Interface",
    "Netboot",
    "RenderedAction",
    "RenderedTask",
    "RenderedWorkflow",
    "TemplateInfo",
    "TemplateObject",
    "TinkerbellError",
    "TinkerbellObject",
    "WorkflowObject",
    "check_template",
    "normalise_mac",
    "parse_objects",
    "probe_data",
    "read_workflow",
    "render_workflow",
    "template_data",
]
