"""`metalinit disks` run as the user runs it: the installed entry point, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.blockdev.cli import human_size
from agent.blockdev.sysblock import list_block_devices

METALINIT = Path(sys.prefix) / "bin" / "metalinit"
MIB = 1024 * 1024
PART_UUID = "0f0f0f0f-1111-4222-8333-444455556666"
FS_UUID = "e1e1e1e1-1111-4222-8333-444455556666"


def disks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(METALINIT), "disks", *args], capture_output=True, text=True, check=False, timeout=60
    )


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """A GPT disk whose one partition holds an ext4 filesystem, made with mkfs.ext4 -E offset."""
    disk = tmp_path / "disk.img"
    with disk.open("wb") as f:
        f.truncate(64 * MIB)
    script = f"label: gpt\nstart=2048, size=32MiB, type=L, uuid={PART_UUID}, name=rootfs\n"
    subprocess.run(["sfdisk", "-q", str(disk)], input=script, text=True, check=True)
    mkfs = ["mkfs.ext4", "-q", "-U", FS_UUID, "-L", "cliroot", "-E", f"offset={2048 * 512}"]
    subprocess.run([*mkfs, str(disk), "32M"], check=True)
    return disk


def test_json_lists_the_disk_and_its_partition_with_their_root_specs(image: Path) -> None:
    result = disks(str(image), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["errors"] == {} and report["notes"] == []
    whole, part = report["devices"]
    assert whole == {
        "path": str(image),
        "size": 64 * MIB,
        "pttype": "gpt",
        "fstype": None,
        "uuid": None,
        "label": None,
        "partuuid": None,
        "partlabel": None,
        "root_specs": [],
    }
    assert part["path"] == f"{image}:1"
    assert (part["fstype"], part["uuid"], part["label"]) == ("ext4", FS_UUID, "cliroot")
    assert part["root_specs"] == [
        f"UUID={FS_UUID}",
        f"PARTUUID={PART_UUID}",
        "LABEL=cliroot",
        "PARTLABEL=rootfs",
    ]


def test_table_is_aligned_and_an_unreadable_path_fails_alone(image: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.img"
    result = disks(str(missing), str(image))
    assert result.returncode == 1
    assert result.stderr == f"metalinit disks: {missing}: cannot open: No such file or directory\n"
    header, whole, part = result.stdout.splitlines()
    assert header.split() == [
        "PATH", "SIZE", "PTTYPE", "TYPE", "UUID", "LABEL", "PARTUUID", "PARTLABEL", "ROOT=",
    ]  # fmt: skip
    assert whole.split() == [str(image), "64M", "gpt", "-", "-", "-", "-", "-", "-"]
    assert part.split()[:8] == [
        f"{image}:1",
        "32M",
        "-",
        "ext4",
        FS_UUID,
        "cliroot",
        PART_UUID,
        "rootfs",
    ]
    assert header.index("UUID") == part.index(FS_UUID)  # columns line up
    assert header.index("ROOT=") == part.index(f"UUID={FS_UUID}")


@pytest.mark.parametrize("args", [["--bogus"], ["--json", "--nope", "x"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = disks(*args)
    assert result.returncode == 2
    assert "usage: metalinit disks" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="reading this host's disks needs root")
def test_without_arguments_every_block_device_of_this_host_is_listed() -> None:
    # Loop devices come and go as other tests run; the host's own disks stay.
    lasting = {
        str(device.node(Path("/dev")))
        for device in list_block_devices()
        if not device.name.startswith("loop")
    }
    result = disks("--json")
    report = json.loads(result.stdout)
    shown = {d["path"] for d in report["devices"]} | set(report["errors"])
    assert lasting and lasting <= shown
    assert result.returncode == (1 if report["errors"] else 0)


@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0B"), (512, "512B"), (1536, "1.5K"), (64 * MIB, "64M"), (10 * 1024**3 + 1, "10G"),
     (int(1.25 * 1024**4), "1.2T")],
)  # fmt: skip
def test_human_size(size: int, shown: str) -> None:
    assert human_size(size) == shown
