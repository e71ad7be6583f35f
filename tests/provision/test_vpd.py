"""Disk identities from VPD pages, as udev's ata_id and scsi_id read them, and udev's name
rules. Expected names are the links udev makes for such disks (QEMU's scsi-hd, a VMware
NAA disk, a SanDisk SATA SSD as captured from `udevadm info`)."""

from __future__ import annotations

import pytest

from agent.provision.vpd import (
    Identity,
    ata_identity,
    collapse_whitespace,
    encoded,
    safe_name,
    scsi_identity,
)
from tests.provision.vpd_pages import designator, pg80, pg83, pg89

QEMU_VENDOR, QEMU_MODEL = "QEMU    ", "QEMU HARDDISK   "
NAA = bytes.fromhex("6000c29a1b2c3d4e5f60718293a4b5c6")


def test_ata_identify_gives_ata_ids_serial_and_wwn() -> None:
    page = pg89("SanDisk SDSSDH3 500G", "        22085H801878", 0x5001B448B7CAE3C0)
    assert ata_identity(page) == Identity(
        "SanDisk_SDSSDH3_500G_22085H801878",
        "22085H801878",
        "SanDisk SDSSDH3 500G",
        "0x5001b448b7cae3c0",
    )


def test_ata_without_a_registered_wwn_or_serial() -> None:
    found = ata_identity(pg89("QEMU HARDDISK", ""))
    assert found == Identity("QEMU_HARDDISK", None, "QEMU HARDDISK", None)


def test_a_short_page_is_no_identity() -> None:
    assert ata_identity(pg89("X", "Y")[:300]) is None


@pytest.mark.parametrize(
    ("page83", "page80", "serial", "short", "wwn"),
    [
        pytest.param(
            pg83(designator(2, 0, b"drive-scsi0-0-0-0")),
            None,
            "0QEMU_QEMU_HARDDISK_drive-scsi0-0-0-0",
            "drive-scsi0-0-0-0",
            None,
            id="qemu-vendor-specific",
        ),
        pytest.param(
            pg83(designator(2, 0, b"drive-scsi0-0-0-0"), designator(1, 3, NAA)),
            None,
            "36000c29a1b2c3d4e5f60718293a4b5c6",
            NAA.hex(),
            "0x6000c29a1b2c3d4e5f60718293a4b5c6",
            id="naa-wins",
        ),
        pytest.param(
            pg83(designator(1, 3, NAA, association=1), designator(2, 1, b"QEMU    disk-7")),
            None,
            "1QEMU_disk-7",
            "QEMU    disk-7",
            None,
            id="target-port-naa-skipped-t10-used",
        ),
        pytest.param(
            pg83(designator(1, 3, bytes.fromhex("5000c5004d7a9b31"))),
            None,
            "35000c5004d7a9b31",
            "5000c5004d7a9b31",
            "0x5000c5004d7a9b31",
            id="naa-registered",
        ),
        pytest.param(
            None, pg80("SER 123"), "SQEMU_QEMU_HARDDISK_SER_123", "SER 123", None, id="page-80-only"
        ),
        pytest.param(
            b"\0\x83\0\0",
            pg80("ABC"),
            "SQEMU_QEMU_HARDDISK_ABC",
            "ABC",
            None,
            id="empty-83-falls-back",
        ),
    ],
)
def test_scsi_id_choice(
    page83: bytes | None, page80: bytes | None, serial: str, short: str, wwn: str | None
) -> None:
    found = scsi_identity(page83, page80, QEMU_VENDOR, QEMU_MODEL)
    assert found is not None
    assert (found.serial, found.serial_short, found.wwn) == (serial, short.strip(), wwn)


def test_scsi_without_pages_has_no_identity() -> None:
    assert scsi_identity(None, None, QEMU_VENDOR, QEMU_MODEL) is None


@pytest.mark.parametrize(
    ("text", "collapsed", "safe"),
    [
        ("  Samsung SSD  970 ", "Samsung_SSD_970", "__Samsung_SSD__970_"),
        ("a/b", "a/b", "a_b"),
        ("x$y%z", "x$y%z", "x_y_z"),
        ("éte", "éte", "éte"),
        ("ok#+-.:=@_", "ok#+-.:=@_", "ok#+-.:=@_"),
    ],
)
def test_udev_string_rules(text: str, collapsed: str, safe: str) -> None:
    assert collapse_whitespace(text) == collapsed
    assert safe_name(text) == safe


@pytest.mark.parametrize(
    ("label", "enc"),
    [
        ("root fs", "root\\x20fs"),
        ("a/b", "a\\x2fb"),
        ("..", ".."),
        ("EFI", "EFI"),
        ("back\\slash", "back\\x5cslash"),
    ],
)
def test_labels_are_encoded_as_blkid_encodes_them(label: str, enc: str) -> None:
    assert encoded(label) == enc
