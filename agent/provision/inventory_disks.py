"""The `disks` part of the inventory: whole disks, with ironic-python-agent's keys.

Read from sysfs and the names udev would give (`agent.provision.diskids`); where a udev
database exists (a host: /run/udev/data), what udev recorded wins, through pyudev. Loop,
RAM, zram, device-mapper and other virtual devices and empty drives are left out, as
IPA's `lsblk`-based listing leaves out everything that is not a disk.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agent.blockdev.sysblock import list_block_devices
from agent.provision.diskids import DiskIds, disk_ids
from agent.provision.sysfs import SysDevice

UDEV_DATA = Path("/run/udev/data")
# What udev knows better than sysfs (the full ATA model, a SCSI serial from page 0x80),
# as (inventory key, udev properties in order of preference). The _ENC forms keep the
# spaces that udev turns into `_` in the plain ones.
UDEV_KEYS = (
    ("model", ("ID_MODEL_ENC", "ID_MODEL")),
    ("vendor", ("ID_VENDOR_ENC", "ID_VENDOR")),
    ("serial", ("ID_SERIAL_SHORT",)),
    ("wwn", ("ID_WWN_WITH_EXTENSION", "ID_WWN")),
)


def disks(sys_root: Path = Path("/sys"), udev_data: Path = UDEV_DATA) -> list[dict[str, Any]]:
    records = []
    udev = _udev_context() if udev_data.is_dir() else None
    for block in list_block_devices(sys_root):
        if block.partition is not None:
            continue
        device = SysDevice.of_class(sys_root, "block", block.name)
        if device is None or device.virtual:
            continue
        ids = disk_ids(device)
        record = _record(device, block.size, ids)
        if udev is not None:
            _from_udev(udev, device, record)
        records.append(record)
    return records


def _record(device: SysDevice, size: int, ids: DiskIds) -> dict[str, Any]:
    scsi = device.find_up("scsi", "scsi_device")
    return {
        "name": f"/dev/{device.sysname.replace('!', '/')}",
        "model": ids.model,
        "size": size,
        "rotational": device.attr("queue/rotational") == "1",
        "wwn": ids.wwn,
        "serial": ids.serial,
        "vendor": ids.vendor,
        "hctl": scsi.sysname if scsi is not None else None,
        "by_path": f"/dev/disk/by-path/{ids.by_path[0]}" if ids.by_path else None,
    }


def _udev_context() -> Any:
    try:
        import pyudev

        return pyudev.Context()
    except (ImportError, OSError):  # no libudev here: sysfs is all there is
        return None


def _from_udev(context: Any, device: SysDevice, record: dict[str, Any]) -> None:
    import pyudev

    try:
        properties = pyudev.Devices.from_sys_path(context, str(device.path)).properties
    except (pyudev.DeviceNotFoundError, OSError, ValueError):
        return
    for key, names in UDEV_KEYS:
        value = next((v for name in names if (v := properties.get(name))), None)
        if value:
            record[key] = " ".join(_decode(value).split())
    if properties.get("ID_PATH"):
        record["by_path"] = f"/dev/disk/by-path/{properties['ID_PATH']}"


def _decode(text: str) -> str:
    """udev's `\\xNN` escapes back into characters."""
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)
