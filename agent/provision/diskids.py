"""A disk's stable names — what udev's 60-persistent-storage.rules and its path_id builtin
would call it — worked out from sysfs alone, since no udev runs in the initramfs.

- by-id: `virtio-SERIAL`, `nvme-WWID` and `nvme-MODEL_SERIAL`, `ata-MODEL_SERIAL`,
  `scsi-ID_SERIAL`, and `wwn-0x…` where the disk has a WWN.
- by-path: the chain of buses from the disk up, as path_id composes it
  (`pci-0000:00:04.0`, `pci-0000:00:05.0-nvme-1`, `pci-0000:00:1f.2-ata-1.0` and the old
  `pci-0000:00:1f.2-ata-1`, `pci-0000:00:03.0-scsi-0:0:0:0`, `pci-0000:00:14.0-usb-0:1:1.0-…`),
  plus the legacy `virtio-pci-…`. Fibre Channel, SAS, iSCSI and Hyper-V disks get none.
Partitions take their disk's names with `-partN` appended.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.provision.sysfs import SysDevice
from agent.provision.vpd import (
    Identity,
    ata_identity,
    safe_name,
    scsi_identity,
)


@dataclass(frozen=True)
class DiskIds:
    bus: str | None = None  # virtio, nvme, ata, scsi
    model: str | None = None
    vendor: str | None = None
    serial: str | None = None  # the device's own serial number (ID_SERIAL_SHORT)
    wwn: str | None = None
    by_id: tuple[str, ...] = ()
    by_path: tuple[str, ...] = ()


def disk_ids(disk: SysDevice) -> DiskIds:
    """Names for a whole disk (`disk` is its directory under /sys/devices)."""
    name = disk.sysname
    paths = () if disk.virtual else _by_path(disk)
    vendor = disk.attr_up("vendor") if not disk.virtual else None
    if name.startswith("vd"):
        serial = disk.attr("serial")
        by_id = (f"virtio-{safe_name(serial)}",) if serial else ()
        return DiskIds("virtio", None, vendor, serial, None, by_id, paths)
    if name.startswith("nvme"):
        return _nvme(disk, paths)
    if name.startswith(("sd", "sr")):
        return _scsi(disk, paths)
    return DiskIds(None, disk.attr_up("model"), vendor, disk.attr_up("serial"), None, (), paths)


def _nvme(disk: SysDevice, paths: tuple[str, ...]) -> DiskIds:
    wwid, model, serial = disk.attr("wwid"), disk.attr_up("model"), disk.attr_up("serial")
    by_id = [f"nvme-{safe_name(wwid)}"] if wwid else []
    if model and serial:
        by_id.append(f"nvme-{safe_name(model)}_{safe_name(serial)}")
    return DiskIds("nvme", model, None, serial, wwid, tuple(by_id), paths)


def _scsi(disk: SysDevice, paths: tuple[str, ...]) -> DiskIds:
    device = disk.find_up("scsi", "scsi_device")
    if device is None:
        return DiskIds("scsi", by_path=paths)
    vendor_field = (device.raw("vendor") or "").rstrip("\n")
    model_field = (device.raw("model") or "").rstrip("\n")
    model = " ".join(model_field.split()) or None
    vendor = " ".join(vendor_field.split()) or None
    if device.find_up("usb") is not None:  # udev's usb_id names these; not composed here
        return DiskIds("usb", model, vendor, None, None, (), paths)
    found: Identity | None = None
    bus = "scsi"
    if vendor_field.strip() == "ATA":
        bus, pg89 = "ata", device.binary("vpd_pg89")
        found = ata_identity(pg89) if pg89 else None
    else:
        found = scsi_identity(device.binary("vpd_pg83"), device.binary("vpd_pg80"),
                              vendor_field, model_field)  # fmt: skip
    if found is None:
        return DiskIds(bus, model, vendor, None, None, (), paths)
    by_id = [f"{bus}-{found.serial}"]
    if found.wwn:
        by_id.append(f"wwn-{found.wwn}")
    return DiskIds(bus, found.model or model, vendor, found.serial_short, found.wwn,
                   tuple(by_id), paths)  # fmt: skip


def _by_path(disk: SysDevice) -> tuple[str, ...]:
    composed = path_id(disk)
    if composed is None:
        return ()
    path, ata_compat = composed
    names = [path]
    if ata_compat and ata_compat != path:
        names.append(ata_compat)
    if disk.sysname.startswith("vd") and path.startswith("pci-"):
        names.append(f"virtio-{path}")
    return tuple(safe_name(n) for n in names)


@dataclass
class _Path:
    parts: list[str]
    compat: list[str] | None = None  # only once an ATA port was seen
    transport: bool = False
    parent: bool = False

    def prepend(self, part: str, *, compat: bool = True) -> None:
        self.parts.insert(0, part)
        if compat and self.compat is not None:
            self.compat.insert(0, part)


class _Unsupported(Exception):
    pass


def path_id(disk: SysDevice) -> tuple[str, str | None] | None:
    """ID_PATH and ID_PATH_ATA_COMPAT for a block device, or None where path_id gives none."""
    path = _Path([])
    device: SysDevice | None = disk
    try:
        while device is not None:
            device = _step(device, disk, path)
            if device is None:
                break
            device = device.parent()
    except _Unsupported:
        return None
    if not path.parts or not path.parent or not path.transport:
        return None
    return "-".join(path.parts), "-".join(path.compat) if path.compat else None


def _step(device: SysDevice, disk: SysDevice, path: _Path) -> SysDevice | None:
    subsystem, name = device.subsystem, device.sysname
    match subsystem:
        case "scsi":
            path.transport = True
            return _scsi_step(device, path)
        case "usb":
            path.transport = True
            if device.devtype not in ("usb_interface", "usb_device") or "-" not in name:
                return device
            path.prepend(f"usb-0:{name.split('-', 1)[1]}")
            return _skip(device, "usb")
        case "pci" | "acpi" | "xen" | "platform":
            path.prepend(f"{subsystem}-{name}")
            path.parent = True
            path.transport = path.transport or subsystem == "platform"
            return _skip(device, subsystem)
        case "virtio":
            path.transport = True
            return _skip(device, "virtio")
        case "nvme":
            nsid = disk.attr("nsid")
            if nsid is None:
                return device
            path.prepend(f"nvme-{nsid}")
            path.transport = path.parent = True
            return _skip(device, "nvme")
        case "nvme-subsystem":
            raise _Unsupported  # multipath NVMe: the real controller is on another branch
    return device


def _scsi_step(device: SysDevice, path: _Path) -> SysDevice | None:
    if device.devtype != "scsi_device":
        return device
    where = str(device.path)
    if any(
        marker in where for marker in ("/rport-", "/end_device-", "/session", "/vmbus_", "/VMBUS")
    ):
        raise _Unsupported  # Fibre Channel, SAS, iSCSI, Hyper-V: not composed here
    try:
        host, bus, target, lun = (int(n) for n in device.sysname.split(":"))
    except ValueError:
        return None
    host_dev = device.find_up("scsi", "scsi_host")
    if host_dev is None:
        return None
    if "/ata" in where:
        port_dev = host_dev.parent()
        if port_dev is None:
            return None
        port_no = SysDevice(port_dev.path / "ata_port" / port_dev.sysname, port_dev.top)
        number = port_no.attr("port_no")
        if number is None:
            return None
        path.prepend(f"ata-{number}.{bus}.0" if bus else f"ata-{number}.{target}", compat=False)
        path.compat = [f"ata-{number}"]
        return device
    hosts = [int(e.name[4:]) for e in host_dev.path.parent.iterdir()
             if e.name.startswith("host") and e.name[4:].isdigit()]  # fmt: skip
    if hosts:  # path_id's "rebase": the host number counted from its controller's first
        path.prepend(f"scsi-{host - min(hosts)}:{bus}:{target}:{lun}")
    return host_dev


def _skip(device: SysDevice, subsystem: str) -> SysDevice:
    """The topmost of the unbroken run of `subsystem` devices starting at `device`."""
    last = device
    for above in device.chain():
        if above.subsystem != subsystem:
            break
        last = above
    return last
