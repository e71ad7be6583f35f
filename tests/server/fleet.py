"""Test helpers over a served server: fresh machines (unique MACs), templates built from
Python data, and workflows ready for a machine client to run."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any

import yaml

from agent.provision import wire
from tests.server.serving import MachineClient, Served

_counter = itertools.count(1)


def action(
    name: str,
    *,
    image: str = "quay.io/tinkerbell/actions/cexec:v1",
    timeout: int = 60,
    retries: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    return {"name": name, "image": image, "timeout": timeout, "retries": retries, **extra}


def task(name: str, worker: str, actions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": name, "worker": worker, "actions": actions, **extra}


def template_text(name: str, tasks: list[dict[str, Any]], global_timeout: int = 600) -> str:
    return yaml.safe_dump(
        {"version": "0.1", "name": name, "global_timeout": global_timeout, "tasks": tasks},
        sort_keys=False,
    )


@dataclass
class Run:
    """One workflow and the looked-up machine client of its (first) worker."""

    id: str
    mac: str
    hardware: str
    machine: MachineClient
    fleet: Fleet

    def next_action(self) -> wire.ActionSpec:
        reply = self.machine.next()
        assert reply.kind is wire.NextKind.ACTION, reply
        assert reply.action is not None
        return reply.action

    def view(self) -> dict[str, Any]:
        return self.fleet.admin.workflow(self.id)  # type: ignore[no-any-return]

    def state(self) -> str:
        return str(self.view()["state"])


class Fleet:
    def __init__(self, served: Served) -> None:
        self.served = served
        self.admin = served.admin()
        self.prefix = os.getpid() % 256

    def mac(self) -> str:
        n = next(_counter)
        return f"52:54:{self.prefix:02x}:{(n >> 16) & 255:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}"

    def machine(self, **fields: Any) -> tuple[str, str]:
        mac = self.mac()
        name = f"m-{mac.replace(':', '')}"
        self.admin.put_hardware(name, macs=[mac], disks=["/dev/vda"], **fields)
        return name, mac

    def template(self, tasks: list[dict[str, Any]], global_timeout: int = 600) -> str:
        name = f"t{next(_counter)}"
        self.admin.add_template(template_text(name, tasks, global_timeout))
        return name

    def run(
        self,
        *actions: dict[str, Any],
        global_timeout: int = 600,
        task_extra: dict[str, Any] | None = None,
    ) -> Run:
        """A one-task workflow of `actions` on a new machine, which has looked up."""
        hardware, mac = self.machine()
        name = self.template([task("os", mac, list(actions), **(task_extra or {}))], global_timeout)
        wf = self.admin.create_workflow(name, {"device_1": mac})
        client = self.served.machine()
        client.lookup([mac])
        return Run(wf["id"], mac, hardware, client, self)
