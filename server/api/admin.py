"""The admin API: everything the CLI does. Every call needs the admin token."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from server import render
from server.api import views
from server.api.admin_models import (
    Applied,
    ApplyIn,
    Deleted,
    HardwareIn,
    HardwareView,
    LogPage,
    NetbootIn,
    RetryIn,
    TemplateIn,
    TemplateView,
    UnknownView,
    WorkflowIn,
    WorkflowSummary,
    WorkflowView,
)
from server.api.auth import Admin, store_of
from server.api.problems import PROBLEMS
from server.creating import apply_documents, create_workflow
from server.netboot import set_netboot
from server.store import hardware as hw
from server.store import templates as tpl
from server.store import workflows as wfs

router = APIRouter(prefix="/api/v1", tags=["admin"], dependencies=[Admin], responses=PROBLEMS)
log = logging.getLogger("metalinit.server")

# a hardware name is a Kubernetes object name, as Tinkerbell's Hardware has
HardwareName = Annotated[
    str, Path(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]
KeyPath = Annotated[str, Path(min_length=1, max_length=200)]


@router.get("/hardware", response_model=list[HardwareView], summary="all hardware")
def list_hardware(request: Request) -> Any:
    return store_of(request).read(
        lambda conn: [views.hardware_view(conn, r) for r in hw.list_all(conn)]
    )


@router.put("/hardware/{name}", response_model=HardwareView, summary="add or replace hardware")
def put_hardware(name: HardwareName, body: HardwareIn, request: Request) -> Any:
    record = hw.compose(
        name,
        macs=body.macs,
        disks=body.disks,
        interfaces=body.interfaces,
        metadata=body.metadata,
        user_data=body.user_data,
        allow_netboot=body.allow_netboot,
        spec=body.spec,
        labels=body.labels,
    )
    render.check_hardware(record)
    now = time.time()

    def save(conn: Any) -> dict[str, Any]:
        hw.save(conn, record, now)
        return views.hardware_view(conn, hw.get(conn, name))

    view = store_of(request).write(save)
    log.info("hardware %s saved (%s)", name, " ".join(view["macs"]))
    return view


@router.get("/hardware/{key}", response_model=HardwareView, summary="hardware by name or MAC")
def get_hardware(key: KeyPath, request: Request) -> Any:
    return store_of(request).read(lambda conn: views.hardware_view(conn, hw.get(conn, key)))


@router.delete("/hardware/{key}", response_model=Deleted, summary="remove hardware")
def delete_hardware(key: KeyPath, request: Request) -> Any:
    name = store_of(request).write(lambda conn: hw.remove(conn, key))
    log.info("hardware %s removed", name)
    return {"deleted": name}


@router.put("/hardware/{key}/netboot", response_model=HardwareView, summary="netboot on or off")
def put_netboot(key: KeyPath, body: NetbootIn, request: Request) -> Any:
    def change(conn: Any) -> dict[str, Any]:
        name = set_netboot(conn, key, body.allow)
        return views.hardware_view(conn, hw.get(conn, name))

    view = store_of(request).write(change)
    log.info("hardware %s: netboot %s", view["name"], "on" if body.allow else "off")
    return view


@router.get("/unknown", response_model=list[UnknownView], summary="unknown MACs that looked up")
def list_unknown(request: Request) -> Any:
    return store_of(request).read(
        lambda conn: [views.unknown_view(r) for r in hw.list_unknown(conn)]
    )


def _template_view(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "data": row.data,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


@router.post("/templates", response_model=TemplateView, summary="add or replace a template")
def add_template(body: TemplateIn, request: Request) -> Any:
    own_name = render.check_template(body.data)
    name = body.name or own_name
    if not name:
        raise render.TemplateProblem("template: it has no name; give one")
    now = time.time()

    def save(conn: Any) -> dict[str, Any]:
        tpl.save(conn, name, body.data, now)
        return _template_view(tpl.get(conn, name))

    log.info("template %s saved", name)
    return store_of(request).write(save)


@router.get("/templates", response_model=list[TemplateView], summary="all templates")
def list_templates(request: Request) -> Any:
    return store_of(request).read(lambda conn: [_template_view(r) for r in tpl.list_all(conn)])


@router.get("/templates/{name}", response_model=TemplateView, summary="one template")
def get_template(name: KeyPath, request: Request) -> Any:
    return store_of(request).read(lambda conn: _template_view(tpl.get(conn, name)))


@router.delete("/templates/{name}", response_model=Deleted, summary="remove a template")
def delete_template(name: KeyPath, request: Request) -> Any:
    store_of(request).write(lambda conn: tpl.remove(conn, name))
    return {"deleted": name}


@router.post("/workflows", response_model=WorkflowView, summary="render a template into a workflow")
def add_workflow(body: WorkflowIn, request: Request) -> Any:
    store = store_of(request)
    wf_id = create_workflow(
        store,
        template=body.template,
        hardware_map=body.hardware_map,
        hardware_ref=body.hardware,
        name=body.name,
        toggle_netboot=body.toggle_allow_netboot,
    )
    log.info("workflow %s created from template %s", wf_id, body.template)
    return store.read(lambda conn: views.workflow_view(conn, wfs.find(conn, wf_id)))


@router.get("/workflows", response_model=list[WorkflowSummary], summary="all workflows")
def list_workflows(request: Request) -> Any:
    return store_of(request).read(views.summaries)


@router.get("/workflows/{key}", response_model=WorkflowView, summary="a workflow by id or name")
def get_workflow(key: KeyPath, request: Request) -> Any:
    return store_of(request).read(lambda conn: views.workflow_view(conn, wfs.find(conn, key)))


@router.delete("/workflows/{key}", response_model=Deleted, summary="remove a workflow")
def delete_workflow(key: KeyPath, request: Request) -> Any:
    wf_id = store_of(request).write(lambda conn: wfs.remove(conn, key))
    log.info("workflow %s removed", wf_id)
    return {"deleted": wf_id}


@router.post(
    "/workflows/{key}/retry",
    response_model=WorkflowView,
    summary="run an ended workflow again from its failed action",
)
def retry_workflow(key: KeyPath, body: RetryIn, request: Request) -> Any:
    store = store_of(request)
    now = time.time()
    wf_id = store.write(lambda conn: wfs.retry(conn, key, body.from_action, now))
    log.info("workflow %s retried", wf_id)
    return store.read(lambda conn: views.workflow_view(conn, wfs.find(conn, wf_id)))


@router.get("/workflows/{key}/logs", response_model=LogPage, summary="the actions' output")
def workflow_logs(
    key: KeyPath,
    request: Request,
    action: Annotated[str | None, Query(max_length=400)] = None,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 5_000,
) -> Any:
    def page(conn: Any) -> dict[str, Any]:
        wf = wfs.find(conn, key)
        rows = wfs.log_lines(conn, wf.id, action, offset, limit)
        lines = [
            {"action": r.name, "task": r.task, "attempt": r.attempt, "n": r.n, "text": r.text}
            for r in rows
        ]
        return {"lines": lines, "next_offset": offset + len(rows) if len(rows) == limit else None}

    return store_of(request).read(page)


@router.post(
    "/apply",
    response_model=list[Applied],
    summary="Tinkerbell Hardware, Template and Workflow objects, as YAML",
)
def apply(body: ApplyIn, request: Request) -> Any:
    return apply_documents(store_of(request), render.parse_documents(body.yaml))
