"""Rows as the admin API shows them (dicts shaped like `admin_models`)."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, Row

from server.store import hardware as hw
from server.store import tokens
from server.store import workflows as wfs


def hardware_view(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    record = hw.record_of(row)
    return {
        "name": row.name,
        "macs": hw.macs_of(conn, row.id),
        "disks": list(record.disks()),
        "interfaces": record.interfaces(),
        "metadata": record.metadata(),
        "user_data": record.user_data(),
        "spec": record.spec,
        "labels": record.labels,
        "allow_netboot": bool(row.allow_netboot),
        "inventory": row.inventory,
        "inventory_at": row.inventory_at,
        "agent_version": row.agent_version,
        "address": row.address,
        "last_seen_at": tokens.last_seen(conn, row.id),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def unknown_view(row: Row[Any]) -> dict[str, Any]:
    return {
        "mac": row.mac,
        "macs": list(row.macs),
        "first_seen": row.first_seen,
        "last_seen": row.last_seen,
        "lookups": row.lookups,
        "address": row.address,
        "inventory": row.inventory,
    }


def _names(conn: Connection) -> dict[int, str]:
    return {int(r.id): str(r.name) for r in hw.list_all(conn)}


def summary(row: Row[Any], names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "template": row.template_name,
        "hardware": names.get(row.hardware_id, "?"),
        "state": row.state,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "stopped_at": row.stopped_at,
        "message": row.message,
    }


def summaries(conn: Connection) -> list[dict[str, Any]]:
    names = _names(conn)
    return [summary(r, names) for r in wfs.list_all(conn)]


def workflow_view(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    names = _names(conn)
    reports: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in wfs.reports_of(conn, row.id):
        reports[r.action_id].append(
            {
                "attempt": r.attempt,
                "state": r.state,
                "message": r.message,
                "seconds": r.seconds,
                "at": r.received_at,
                "by_server": bool(r.by_server),
            }
        )
    actions = []
    for a in wfs.actions_of(conn, row.id):
        progress = None
        if a.progress_done is not None:
            progress = {
                "done": a.progress_done,
                "total": a.progress_total,
                "unit": a.progress_unit or "bytes",
            }
        actions.append(
            {
                "id": a.id,
                "task": a.task,
                "worker": a.worker,
                "hardware": names.get(a.hardware_id, "?"),
                "name": a.name,
                "image": a.image,
                "timeout": a.timeout,
                "retries": a.retries,
                "command": list(a.command),
                "environment_keys": sorted(a.environment),
                "volumes": list(a.volumes),
                "pid": a.pid,
                "state": a.state,
                "attempt": a.attempt,
                "started_at": a.started_at,
                "stopped_at": a.stopped_at,
                "seconds": a.seconds,
                "message": a.message,
                "progress": progress,
                "heartbeat_at": a.heartbeat_at,
                "reports": reports[a.id],
            }
        )
    view = summary(row, names)
    del view["message"]
    return {
        **view,
        "hardware_map": dict(row.hardware_map),
        "global_timeout": row.global_timeout,
        "message": row.message,
        "server_time": time.time(),
        "actions": actions,
    }
