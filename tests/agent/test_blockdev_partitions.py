"""Partition tables written by sfdisk into image files, read by probe() and by partx/blkid."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from agent.blockdev import BlockDevError
from agent.blockdev.partitions import PartitionTableError
from agent.blockdev.probe import inspect, probe
from agent.rootspec import BlockInfo

MIB = 1024 * 1024
DISK_GUID = "0e1d2c3b-4a59-6877-8695-a4b3c2d1e0f9"
ESP_GUID = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"  # partition type, not an id of ours
P1_UUID, P2_UUID, P3_UUID = (
    "11111111-aaaa-4bbb-8ccc-000000000001",
    "22222222-aaaa-4bbb-8ccc-000000000002",
    "33333333-aaaa-4bbb-8ccc-000000000003",
)
FS_UUID = "5e5e5e5e-1111-4222-8333-444455556666"
SWAP_UUID = "5a5a5a5a-1111-4222-8333-444455556666"

GPT_SCRIPT = f"""\
label: gpt
label-id: {DISK_GUID.upper()}
start=2048, size=32768, type={ESP_GUID}, uuid={P1_UUID}, name="EFI system"
start=34816, size=65536, type=L, uuid={P2_UUID}, name="root fs"
start=100352, size=16384, type=S, uuid={P3_UUID}, name=swap
"""
MBR_SCRIPT = """\
label: dos
label-id: 0xdeadbeef
start=2048, size=32768, type=c
start=34816, size=65536, type=83, bootable
start=100352, size=20480, type=5
start=102400, size=8192, type=83
"""
# Filesystems put into the partitions: (partition number, mkfs command)
FILESYSTEMS = {
    1: ["mkfs.vfat", "-F", "16", "-i", "0badcafe", "-n", "ESP"],
    2: ["mkfs.ext4", "-q", "-F", "-U", FS_UUID, "-L", "root"],
    3: ["mkswap", "-q", "-U", SWAP_UUID, "-L", "swap"],
}


def make_disk(tmp_path: Path, script: str, size: int = 64 * MIB) -> Path:
    disk = tmp_path / "disk.img"
    with disk.open("wb") as f:
        f.truncate(size)
    subprocess.run(["sfdisk", "-q", str(disk)], input=script, text=True, check=True)
    return disk


def put_filesystem(tmp_path: Path, disk: Path, start: int, size: int, mkfs: list[str]) -> None:
    """mkfs on a file the partition's size, copied into the disk where the partition is."""
    part = tmp_path / f"part-{start}.img"
    with part.open("wb") as f:
        f.truncate(size)
    subprocess.run([*mkfs, str(part)], check=True, capture_output=True)
    with part.open("rb") as src, disk.open("r+b") as out:
        for offset in range(0, size, 64 * 1024):
            chunk = src.read(64 * 1024)
            if chunk.count(0) != len(chunk):  # keep the disk image sparse
                out.seek(start + offset)
                out.write(chunk)


def partx(disk: Path) -> list[dict[str, str]]:
    result = subprocess.run(
        ["partx", "-g", "-P", "-o", "NR,START,SECTORS,UUID,NAME", str(disk)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [dict(w.split("=", 1) for w in shlex.split(line)) for line in result.stdout.splitlines()]


def blkid_fs(disk: Path, offset: int) -> dict[str, str]:
    command = ["blkid", "-p", "-o", "export", "-O", str(offset), str(disk)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return dict(w.split("=", 1) for w in shlex.split(result.stdout) if "=" in w)


def as_partx_row(info: BlockInfo, start: int) -> dict[str, str]:
    return {
        "NR": info.path.rsplit(":", 1)[1],
        "START": str(start // 512),
        "SECTORS": str(info.size // 512),
        "UUID": info.partuuid or "",
        "NAME": info.partlabel or "",
    }


@pytest.fixture
def gpt_disk(tmp_path: Path) -> Path:
    disk = make_disk(tmp_path, GPT_SCRIPT)
    for number, mkfs in FILESYSTEMS.items():
        row = partx(disk)[number - 1]
        start, size = int(row["START"]) * 512, int(row["SECTORS"]) * 512
        put_filesystem(tmp_path, disk, start, size, mkfs)
    return disk


def test_gpt_image_gives_one_record_per_partition(gpt_disk: Path) -> None:
    disk = str(gpt_disk)
    assert probe(disk) == [
        BlockInfo(disk, 64 * MIB, "gpt"),
        BlockInfo(f"{disk}:1", 16 * MIB, None, "vfat", "0BAD-CAFE", "ESP", P1_UUID, "EFI system"),
        BlockInfo(f"{disk}:2", 32 * MIB, None, "ext4", FS_UUID, "root", P2_UUID, "root fs"),
        BlockInfo(f"{disk}:3", 8 * MIB, None, "swap", SWAP_UUID, "swap", P3_UUID, "swap"),
    ]


def test_gpt_image_agrees_with_partx_and_blkid(gpt_disk: Path) -> None:
    records = probe(str(gpt_disk))
    rows = partx(gpt_disk)
    assert blkid_fs(gpt_disk, 0)["PTUUID"] == DISK_GUID
    assert len(records) == 1 + len(rows)
    for info, row in zip(records[1:], rows, strict=True):
        start = int(row["START"]) * 512
        assert as_partx_row(info, start) == row
        tags = blkid_fs(gpt_disk, start)
        assert (info.fstype, info.uuid, info.label) == (tags["TYPE"], tags["UUID"], tags["LABEL"])


def test_mbr_image_lists_primary_and_logical_partitions_with_the_kernels_partuuid(
    tmp_path: Path,
) -> None:
    disk = make_disk(tmp_path, MBR_SCRIPT)
    put_filesystem(tmp_path, disk, 34816 * 512, 65536 * 512, FILESYSTEMS[2])
    put_filesystem(tmp_path, disk, 102400 * 512, 8192 * 512, FILESYSTEMS[3])
    found = inspect(str(disk))
    path = str(disk)
    assert list(found.devices) == [
        BlockInfo(path, 64 * MIB, "dos"),
        BlockInfo(f"{path}:1", 16 * MIB, None, None, None, None, "deadbeef-01"),
        BlockInfo(f"{path}:2", 32 * MIB, None, "ext4", FS_UUID, "root", "deadbeef-02"),
        BlockInfo(f"{path}:5", 4 * MIB, None, "swap", SWAP_UUID, "swap", "deadbeef-05"),
    ]
    assert found.notes == ()
    not_extended = [row for row in partx(disk) if row["NR"] != "3"]
    starts = [2048 * 512, 34816 * 512, 102400 * 512]
    rows = [as_partx_row(i, s) for i, s in zip(found.devices[1:], starts, strict=True)]
    assert rows == not_extended


def test_a_looping_chain_of_extended_boot_records_stops(tmp_path: Path) -> None:
    disk = make_disk(tmp_path, MBR_SCRIPT)
    first_ebr = 100352 * 512
    with disk.open("r+b") as f:  # the EBR's link to the next one points back at itself
        f.seek(first_ebr + 0x1BE + 16)
        f.write(
            bytes([0, 0, 0, 0, 0x05, 0, 0, 0])
            + (0).to_bytes(4, "little")
            + (1).to_bytes(4, "little")
        )
    found = inspect(str(disk))
    assert [d.path.rsplit(":", 1)[-1] for d in found.devices[1:]] == ["1", "2", "5"]
    assert found.notes == (
        f"{disk}: the chain of extended boot records loops at LBA 100352; stopped there",
    )


def test_mbr_partition_past_the_end_of_a_cut_image_is_truncated(tmp_path: Path) -> None:
    disk = make_disk(tmp_path, MBR_SCRIPT)
    with disk.open("r+b") as f:
        f.truncate(40 * MIB)  # partition 2 (17 MiB + 32 MiB) now runs past the end
    found = inspect(str(disk))
    assert [d.size for d in found.devices] == [40 * MIB, 16 * MIB, 40 * MIB - 34816 * 512]
    assert f"{disk}: partition 2 runs past the end of the disk; truncated" in found.notes


def damage(disk: Path, offset: int) -> None:
    with disk.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_damaged_primary_gpt_falls_back_to_the_backup_as_the_kernel_does(
    gpt_disk: Path,
) -> None:
    intact = probe(str(gpt_disk))
    damage(gpt_disk, 512 + 60)  # inside the disk GUID of the primary header
    found = inspect(str(gpt_disk))
    assert list(found.devices) == intact
    assert any("header CRC32 does not match" in n and "backup GPT" in n for n in found.notes)
    assert partx(gpt_disk)[1]["UUID"] == P2_UUID  # partx reads the backup too


@pytest.mark.parametrize(
    ("offsets", "problem"),
    [
        pytest.param([512 + 60, 64 * MIB - 512 + 60], "header CRC32", id="both-headers"),
        pytest.param([1024 + 20, 64 * MIB - 33 * 512 + 20], "entry array CRC32", id="both-arrays"),
    ],
)
def test_gpt_damaged_in_both_copies_is_a_clear_error(
    gpt_disk: Path, offsets: list[int], problem: str
) -> None:
    for offset in offsets:
        damage(gpt_disk, offset)
    with pytest.raises(PartitionTableError, match=f"no valid GPT.*{problem}"):
        probe(str(gpt_disk))


def test_truncated_gpt_image_is_a_clear_error(gpt_disk: Path) -> None:
    with gpt_disk.open("r+b") as f:
        f.truncate(8 * MIB)
    with pytest.raises(PartitionTableError, match="truncated image"):
        probe(str(gpt_disk))


def test_zero_length_file_is_an_empty_device(tmp_path: Path) -> None:
    empty = tmp_path / "empty.img"
    empty.touch()
    assert probe(str(empty)) == [BlockInfo(str(empty), 0)]


@pytest.mark.parametrize("name", ["missing.img", "."])
def test_unreadable_paths_raise_the_packages_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(BlockDevError, match=str(tmp_path)):
        probe(str(tmp_path / name))
