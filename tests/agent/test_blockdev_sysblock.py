"""Listing devices from a sysfs tree, and find_root over image files and real loop devices."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent.blockdev.probe import probe
from agent.blockdev.sysblock import SysBlockDevice, find_root, list_block_devices
from agent.rootspec import BlockInfo, RootSpec

MIB = 1024 * 1024
FS_UUID = "7a7a7a7a-1111-4222-8333-444455556666"
PART_UUID = "9c9c9c9c-1111-4222-8333-444455556666"


def sized_file(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        f.truncate(size)
    return path


def fake_device(
    sys_root: Path, where: str, size_sectors: int, partition: int | None = None
) -> None:
    """A device directory as the kernel lays it out, and its /sys/class/block link."""
    directory = sys_root / "devices" / where
    directory.mkdir(parents=True)
    (directory / "size").write_text(f"{size_sectors}\n")
    if partition is not None:
        (directory / "partition").write_text(f"{partition}\n")
    link = sys_root / "class" / "block" / directory.name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(directory, link.parent))


@pytest.fixture
def sys_root(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    fake_device(root, "pci0/virtio1/block/vda", 131072)
    for number in (10, 2, 1):
        fake_device(root, f"pci0/virtio1/block/vda/vda{number}", 2048, number)
    fake_device(root, "pci0/virtio2/block/vdb", 65536)
    fake_device(root, "virtual/block/loop0", 0)
    fake_device(root, "virtual/block/ram0", 0)
    fake_device(root, "pci0/ata1/block/sr0", 0)  # an empty CD drive: nothing to read
    return root


def test_lists_disks_then_their_partitions_in_number_order(sys_root: Path) -> None:
    assert list_block_devices(sys_root) == [
        SysBlockDevice("vda", 64 * MIB),
        SysBlockDevice("vda1", MIB, 1, "vda"),
        SysBlockDevice("vda2", MIB, 2, "vda"),
        SysBlockDevice("vda10", MIB, 10, "vda"),
        SysBlockDevice("vdb", 32 * MIB),
    ]


@pytest.fixture
def dev_root(tmp_path: Path) -> Path:
    """Image files standing in for the nodes of vda (ext4) and vdb (FAT); vda1 is missing."""
    root = tmp_path / "dev"
    root.mkdir()
    ext4 = sized_file(root / "vda", 64 * MIB)
    subprocess.run(["mkfs.ext4", "-q", "-U", FS_UUID, "-L", "root", str(ext4)], check=True)
    fat = sized_file(root / "vdb", 32 * MIB)
    subprocess.run(["mkfs.vfat", "-i", "00C0FFEE", "-n", "BOOT", str(fat)], check=True)
    return root


@pytest.mark.parametrize(
    ("spec", "device"),
    [
        (f"UUID={FS_UUID.upper()}", "vda"),
        ("LABEL=root", "vda"),
        ("UUID=00c0-ffee", "vdb"),
        ("LABEL=BOOT", "vdb"),
        ("/dev/vdb", "vdb"),
        ("LABEL=nothere", None),
        ("/dev/vdz", None),
    ],
)
def test_find_root_over_image_files(
    sys_root: Path, dev_root: Path, spec: str, device: str | None
) -> None:
    skipped: list[str] = []
    found = find_root(RootSpec.parse(spec), sys_root, dev_root, on_skip=skipped.append)
    assert (found.path if found else None) == (str(dev_root / device) if device else None)
    if device != "vda" and not spec.startswith("/dev/"):  # vda1 was listed, then tried
        assert any("vda1: cannot open" in message for message in skipped)


def needs_root() -> pytest.MarkDecorator:
    return pytest.mark.skipif(os.geteuid() != 0, reason="loop devices need root")


@contextmanager
def partitioned_loop(image: Path, script: str, sector_size: int = 512) -> Iterator[str]:
    """A loop device over `image`, partitioned by sfdisk, with its partition nodes.

    The kernel makes loopNpM itself when it has the table's parser built in; a kernel
    without them (this sandbox's has neither MSDOS nor EFI partitions) gets them from
    `partx -a`, which adds the same partitions through BLKPG, as udev-less systems do.
    """
    command = ["losetup", "-f", "--show", "-P", "-b", str(sector_size), str(image)]
    disk = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run(["sfdisk", "-q", disk], input=script, text=True, check=True)
        if not _appears(f"{disk}p1", timeout=1.0):
            subprocess.run(["partx", "-a", disk], check=True)
        assert _appears(f"{disk}p1", timeout=10.0), f"{disk}p1 did not appear"
        yield disk
    finally:
        subprocess.run(["partx", "-d", disk], capture_output=True, check=False)
        subprocess.run(["losetup", "-d", disk], check=False)


def _appears(node: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not os.path.exists(node):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def blkid_tags(node: str) -> dict[str, str]:
    result = subprocess.run(
        ["blkid", "-p", "-o", "export", node], capture_output=True, text=True, check=False
    )
    return dict(word.split("=", 1) for word in shlex.split(result.stdout) if "=" in word)


def assert_root_found_every_way(info: BlockInfo) -> None:
    assert info.uuid and info.label and info.partuuid
    specs = [f"UUID={info.uuid}", f"LABEL={info.label}", f"PARTUUID={info.partuuid}"]
    specs += [f"PARTLABEL={info.partlabel}"] if info.partlabel else []
    for spec in specs:
        found = find_root(RootSpec.parse(spec))
        assert found is not None and found.path == info.path, spec


@needs_root()
@pytest.mark.root
@pytest.mark.parametrize("sector_size", [512, 4096])
def test_gpt_partition_on_a_loop_device(tmp_path: Path, sector_size: int) -> None:
    image = sized_file(tmp_path / "disk.img", 64 * MIB)
    script = f"label: gpt\nsize=32MiB, type=L, uuid={PART_UUID}, name=metalroot\n"
    with partitioned_loop(image, script, sector_size) as disk:
        part = f"{disk}p1"
        subprocess.run(["mkfs.ext4", "-q", "-U", FS_UUID, "-L", "loopfs", part], check=True)

        (info,) = probe(part)
        assert info == BlockInfo(
            part, 32 * MIB, None, "ext4", FS_UUID, "loopfs", PART_UUID, "metalroot"
        )
        tags = blkid_tags(part)
        assert (tags["PART_ENTRY_UUID"], tags["PART_ENTRY_NAME"]) == (PART_UUID, "metalroot")
        assert probe(disk)[0].pttype == "gpt"
        assert_root_found_every_way(info)


@needs_root()
@pytest.mark.root
def test_mbr_logical_partition_on_a_loop_device_gets_the_kernels_partuuid(tmp_path: Path) -> None:
    image = sized_file(tmp_path / "disk.img", 64 * MIB)
    script = (
        "label: dos\nlabel-id: 0x5eed1e55\n"
        "start=2048, size=16384, type=83\n"
        "start=18432, size=81920, type=5\n"
        "start=20480, size=32768, type=83\n"  # inside the extended one: logical, number 5
    )
    with partitioned_loop(image, script) as disk:
        logical = f"{disk}p5"
        subprocess.run(["mkfs.ext4", "-q", "-U", FS_UUID, "-L", "logical", logical], check=True)

        (info,) = probe(logical)
        assert info.partuuid == "5eed1e55-05" == blkid_tags(logical)["PART_ENTRY_UUID"]
        assert (info.fstype, info.uuid, info.label) == ("ext4", FS_UUID, "logical")
        assert_root_found_every_way(info)
        assert find_root(RootSpec.parse(logical)) == info
