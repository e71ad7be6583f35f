"""Network boot on the server side, between the store and the pure iPXE scripts: who the
MAC that asks is, whether it may netboot and has work to do, which boot files the build
left in ARTIFACTS/boot, and turning a machine's netboot on or off.

A machine may netboot when its record allows it (`allow_netboot`, which `metalinit hw
netboot NAME on|off` sets) and the interface it boots from does not say
`netboot.allowPXE: false` (Tinkerbell's per-interface switch); it is sent the agent only
while one of its workflows is PENDING or RUNNING (a machine that reboots mid-workflow
comes back to it). The extra kernel arguments are that interface's
`netboot.osie.kernelParams`, Tinkerbell's place for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from server import pxe
from server.errors import ServerError
from server.store import hardware as hw
from server.store.schema import hardware, hardware_mac, workflow

BOOT_DIR = "boot"  # under --artifacts: `metalinit build`'s out/ (vmlinuz, initramfs*.cpio.*)
KERNEL = "vmlinuz"
ACTIVE = ("PENDING", "RUNNING")


class BootFilesMissing(ServerError):
    status = 503


def boot_names(artifacts: Path) -> tuple[str, tuple[str, ...]]:
    """The kernel's name and the initramfs archives', from what is in ARTIFACTS/boot."""
    directory = artifacts / BOOT_DIR
    try:
        names = sorted(p.name for p in directory.iterdir() if p.is_file())
    except OSError:
        names = []
    archives = pxe.archive_order(names)
    if KERNEL not in names or not archives:
        raise BootFilesMissing(
            f"{directory} has no {KERNEL} and initramfs*.cpio.* to boot machines with: "
            f"copy `metalinit build`'s out/ there (cp out/vmlinuz out/initramfs*.cpio.* "
            f"{directory}/)"
        )
    return KERNEL, archives


def boot_files(base_url: str, artifacts: Path) -> pxe.BootFiles:
    kernel, archives = boot_names(artifacts)
    prefix = f"{base_url.rstrip('/')}/artifacts/{BOOT_DIR}/"
    return pxe.BootFiles(prefix + kernel, tuple(prefix + name for name in archives))


def _interface(spec: dict[str, Any], mac: str) -> dict[str, Any]:
    for iface in spec.get("interfaces") or []:
        if isinstance(iface, dict) and str((iface.get("dhcp") or {}).get("mac", "")) == mac:
            return iface
    return {}


def machine(conn: Connection, mac: str) -> pxe.Machine | None:
    """What the server knows of `mac` (aa:bb:cc:dd:ee:ff), for its boot; None if nothing."""
    owner = select(hardware_mac.c.hardware_id).where(hardware_mac.c.mac == mac)
    row = conn.execute(select(hardware).where(hardware.c.id.in_(owner))).first()
    if row is None:
        return None
    record = hw.record_of(row)
    netboot = _interface(record.spec, mac).get("netboot") or {}
    allowed = record.allow_netboot and netboot.get("allowPXE") is not False
    params = (netboot.get("osie") or {}).get("kernelParams") or []
    active = conn.execute(
        select(workflow.c.id)
        .where(workflow.c.hardware_id == row.id, workflow.c.state.in_(ACTIVE))
        .order_by(workflow.c.created_at)
    ).first()
    return pxe.Machine(
        name=record.name,
        allow_netboot=allowed,
        workflow=str(active.id) if active is not None else None,
        kernel_args=" ".join(str(p) for p in params if isinstance(p, str)),
    )


def script_for(conn: Connection, mac: str | None, platform: str, base_url: str,
               artifacts: Path) -> tuple[str, str]:  # fmt: skip
    """The iPXE script for one ask, and a line for the server's log saying why."""
    found = machine(conn, mac) if mac is not None else None
    reason = pxe.reason_for(found) if mac is not None else pxe.Reason.BAD_REQUEST
    if reason is not None or found is None:
        reason = reason or pxe.Reason.UNKNOWN
        return pxe.local_script(platform, mac or "?", reason), f"local disk: {reason.value}"
    files = boot_files(base_url, artifacts)
    names = tuple(pxe.file_name(url) for url in files.initrds)
    args = pxe.kernel_args(base_url.rstrip("/"), mac or "", names, found.kernel_args)
    line = f"the agent for workflow {found.workflow} (hardware {found.name})"
    return pxe.agent_script(found, files, args), line


def set_netboot(conn: Connection, key: str, allowed: bool) -> str:
    """`metalinit hw netboot NAME on|off`: the record's flag and every interface's
    netboot.allowPXE; returns the hardware's name."""
    row = hw.get(conn, key)
    hw.set_netboot(conn, int(row.id), allowed)
    return str(row.name)
