"""by-id and by-path names worked out from sysfs, against the names udev gives the same
disks (virtio-blk, NVMe, SATA, virtio-scsi, USB, SAS), and on this host's own disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.provision.diskids import DiskIds, disk_ids
from agent.provision.sysfs import SysDevice
from tests.provision.systree import SysTree
from tests.provision.vpd_pages import designator, pg80, pg83, pg89

PCI = "pci0000:00"


def build_virtio(t: SysTree) -> str:
    t.device(f"{PCI}/0000:00:04.0", "pci")
    t.device(f"{PCI}/0000:00:04.0/virtio2", "virtio", vendor="0x1af4")
    t.block(f"{PCI}/0000:00:04.0/virtio2/block/vdb", serial="disk-serial-7")
    return "vdb"


def build_nvme(t: SysTree) -> str:
    t.device(f"{PCI}/0000:00:05.0", "pci")
    t.device(
        f"{PCI}/0000:00:05.0/nvme/nvme0",
        "nvme",
        serial="S4EWNX0N123456A     ",
        model="Samsung SSD 970 EVO Plus 1TB            ",
    )
    t.block(f"{PCI}/0000:00:05.0/nvme/nvme0/nvme0n1", wwid="eui.0025385b91b12345", nsid="1")
    return "nvme0n1"


def build_sata(t: SysTree) -> str:
    base = f"{PCI}/0000:00:1f.2/ata3"
    t.device(f"{PCI}/0000:00:1f.2", "pci")
    t.device(base, None)
    t.device(f"{base}/ata_port/ata3", "ata_port", port_no="3")
    t.device(f"{base}/host2", "scsi", "scsi_host")
    t.device(f"{base}/host2/target2:0:0", "scsi", "scsi_target")
    t.device(
        f"{base}/host2/target2:0:0/2:0:0:0",
        "scsi",
        "scsi_device",
        vendor="ATA     ",
        model="SanDisk SDSSDH3 ",
        vpd_pg89=pg89("SanDisk SDSSDH3 500G", "22085H801878", 0x5001B448B7CAE3C0),
    )
    t.block(f"{base}/host2/target2:0:0/2:0:0:0/block/sda")
    return "sda"


def build_virtio_scsi(t: SysTree) -> str:
    base = f"{PCI}/0000:00:03.0/virtio0"
    t.device(f"{PCI}/0000:00:03.0", "pci")
    t.device(base, "virtio")
    for host in ("host2", "host3"):  # the second controller of two: path_id rebases host3 to 1
        t.device(f"{base}/{host}", "scsi", "scsi_host")
    t.device(f"{base}/host3/target3:0:1", "scsi", "scsi_target")
    t.device(
        f"{base}/host3/target3:0:1/3:0:1:0",
        "scsi",
        "scsi_device",
        vendor="QEMU    ",
        model="QEMU HARDDISK   ",
        vpd_pg83=pg83(designator(2, 0, b"drive-scsi0-0-1-0")),
    )
    t.block(f"{base}/host3/target3:0:1/3:0:1:0/block/sdc")
    return "sdc"


def build_usb(t: SysTree) -> str:
    base = f"{PCI}/0000:00:14.0/usb1/1-1/1-1:1.0"
    t.device(f"{PCI}/0000:00:14.0", "pci")
    t.device(f"{PCI}/0000:00:14.0/usb1", "usb", "usb_device")
    t.device(f"{PCI}/0000:00:14.0/usb1/1-1", "usb", "usb_device")
    t.device(base, "usb", "usb_interface")
    t.device(f"{base}/host6", "scsi", "scsi_host")
    t.device(
        f"{base}/host6/target6:0:0/6:0:0:0",
        "scsi",
        "scsi_device",
        vendor="Kingston",
        model="DataTraveler 3.0",
        vpd_pg80=pg80("60A44C3FACC3F0C0B9"),
    )
    t.block(f"{base}/host6/target6:0:0/6:0:0:0/block/sdd")
    return "sdd"


def build_sas(t: SysTree) -> str:
    base = f"{PCI}/0000:03:00.0/host0/port-0:0/end_device-0:0/target0:0:0"
    t.device(f"{PCI}/0000:03:00.0", "pci")
    t.device(f"{PCI}/0000:03:00.0/host0", "scsi", "scsi_host")
    t.device(
        f"{base}/0:0:0:0",
        "scsi",
        "scsi_device",
        vendor="SEAGATE ",
        model="ST4000NM0023    ",
        vpd_pg83=pg83(designator(1, 3, bytes.fromhex("5000c5004d7a9b31"))),
    )
    t.block(f"{base}/0:0:0:0/block/sde")
    return "sde"


def build_loop(t: SysTree) -> str:
    t.block("virtual/block/loop4")
    return "loop4"


CASES = [
    (
        build_virtio,
        DiskIds(
            "virtio",
            None,
            "0x1af4",
            "disk-serial-7",
            None,
            ("virtio-disk-serial-7",),
            ("pci-0000:00:04.0", "virtio-pci-0000:00:04.0"),
        ),
    ),
    (
        build_nvme,
        DiskIds(
            "nvme",
            "Samsung SSD 970 EVO Plus 1TB",
            None,
            "S4EWNX0N123456A",
            "eui.0025385b91b12345",
            ("nvme-eui.0025385b91b12345", "nvme-Samsung_SSD_970_EVO_Plus_1TB_S4EWNX0N123456A"),
            ("pci-0000:00:05.0-nvme-1",),
        ),
    ),
    (
        build_sata,
        DiskIds(
            "ata",
            "SanDisk SDSSDH3 500G",
            "ATA",
            "22085H801878",
            "0x5001b448b7cae3c0",
            ("ata-SanDisk_SDSSDH3_500G_22085H801878", "wwn-0x5001b448b7cae3c0"),
            ("pci-0000:00:1f.2-ata-3.0", "pci-0000:00:1f.2-ata-3"),
        ),
    ),
    (
        build_virtio_scsi,
        DiskIds(
            "scsi",
            "QEMU HARDDISK",
            "QEMU",
            "drive-scsi0-0-1-0",
            None,
            ("scsi-0QEMU_QEMU_HARDDISK_drive-scsi0-0-1-0",),
            ("pci-0000:00:03.0-scsi-1:0:1:0",),
        ),
    ),
    (
        build_usb,
        DiskIds(
            "usb",
            "DataTraveler 3.0",
            "Kingston",
            None,
            None,
            (),
            ("pci-0000:00:14.0-usb-0:1:1.0-scsi-0:0:0:0",),
        ),
    ),
    (
        build_sas,
        DiskIds(
            "scsi",
            "ST4000NM0023",
            "SEAGATE",
            "5000c5004d7a9b31",
            "0x5000c5004d7a9b31",
            ("scsi-35000c5004d7a9b31", "wwn-0x5000c5004d7a9b31"),
            (),
        ),
    ),
    (build_loop, DiskIds()),
]


@pytest.mark.parametrize(("build", "expected"), CASES, ids=[c[0].__name__[6:] for c in CASES])
def test_names_match_udevs(tmp_path: Path, build: object, expected: DiskIds) -> None:
    tree = SysTree(tmp_path)
    name = build(tree)  # type: ignore[operator]
    device = SysDevice.of_class(tmp_path, "block", name)
    assert device is not None
    assert disk_ids(device) == expected


@pytest.mark.skipif(not Path("/sys/block").is_dir(), reason="needs sysfs")
def test_this_hosts_virtio_disks() -> None:
    disks = [n for n in os.listdir("/sys/block") if n.startswith("vd")]
    if not disks:
        pytest.skip("this host has no virtio disk")
    for name in disks:
        device = SysDevice.of_class(Path("/sys"), "block", name)
        assert device is not None
        pci = next(p.name for p in device.path.parents if p.name.count(":") == 2 and "." in p.name)
        ids = disk_ids(device)
        assert ids.by_path == (f"pci-{pci}", f"virtio-pci-{pci}")
        serial = (device.path / "serial").read_text().strip()
        assert ids.by_id == ((f"virtio-{serial}",) if serial else ())
