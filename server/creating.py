"""Creating workflows (render once, store the actions) and applying a file of Tinkerbell
objects. A whole file is applied in one transaction: if any object in it is refused,
none of it is stored."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection

from server import render
from server.errors import BadRequest
from server.store import Store
from server.store import hardware as hw
from server.store import templates as tpl
from server.store import workflows as wfs
from server.store.hardware import HardwareRecord, record_of


def _reference(conn: Connection, hardware_ref: str | None, hardware_map: dict[str, str]) -> Any:
    if hardware_ref is not None:
        return hw.get(conn, hardware_ref)
    keys = ["device_1", *sorted(k for k in hardware_map if k != "device_1")]
    for key in keys:
        if key in hardware_map:
            row = hw.find(conn, hardware_map[key])
            if row is not None:
                return row
    raise BadRequest(
        "the hardware map names no known hardware: give device_1=MAC of a "
        "machine from `metalinit hw list`"
    )


def create_in(
    conn: Connection,
    *,
    template: str,
    hardware_map: dict[str, str],
    hardware_ref: str | None,
    name: str | None,
    toggle_netboot: bool,
    now: float,
) -> str:
    source = tpl.get(conn, template).data
    ref = _reference(conn, hardware_ref, hardware_map)
    plan = render.plan(source, record_of(ref), hardware_map)
    return wfs.create(
        conn,
        plan,
        template_name=template,
        hardware_id=int(ref.id),
        hardware_map=hardware_map,
        name=name,
        toggle_netboot=toggle_netboot,
        now=now,
    )


def create_workflow(store: Store, **kwargs: Any) -> str:
    now = time.time()
    return store.write(lambda conn: create_in(conn, now=now, **kwargs))


def _apply(conn: Connection, docs: list[render.Document], now: float) -> list[dict[str, Any]]:
    applied: list[dict[str, Any]] = []
    for spec in (d for d in docs if isinstance(d, HardwareRecord)):
        new = hw.find(conn, spec.name) is None
        hw.save(conn, spec, now)
        applied.append({"kind": "Hardware", "name": spec.name, "created": new})
    for doc in (d for d in docs if isinstance(d, render.TemplateDoc)):
        render.check_template(doc.data)
        new = tpl.save(conn, doc.name, doc.data, now)
        applied.append({"kind": "Template", "name": doc.name, "created": new})
    for flow in (d for d in docs if isinstance(d, render.WorkflowDoc)):
        existing = conn.execute(wfs.by_name(flow.name)).first()
        if existing is not None:
            applied.append(
                {"kind": "Workflow", "name": flow.name, "id": existing.id, "created": False}
            )
            continue
        wf_id = create_in(
            conn,
            template=flow.template_ref,
            hardware_map=flow.hardware_map,
            hardware_ref=flow.hardware_ref,
            name=flow.name,
            toggle_netboot=flow.toggle_netboot,
            now=now,
        )
        applied.append({"kind": "Workflow", "name": flow.name, "id": wf_id, "created": True})
    return applied


def apply_documents(store: Store, docs: list[render.Document]) -> list[dict[str, Any]]:
    if not docs:
        raise BadRequest("the file holds no Hardware, Template or Workflow object")
    now = time.time()
    return store.write(lambda conn: _apply(conn, docs, now))
