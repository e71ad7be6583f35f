"""What lands on disk: raw, GPT, qcow2, compressed; size, label, UUID; usage errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.rootfs_tools.conftest import Convert
from tests.rootfs_tools.trees import assert_fsck_clean, ext4_tree, mounted, tree

MIB = 1 << 20
UUID = "5d1f2c3b-8f1e-4a4b-9c3d-2e1f0a9b8c7d"


@pytest.fixture
def plain_tree(
    convert: Convert, busybox_oci: Path, tmp_path: Path
) -> dict[str, tuple[object, ...]]:
    out = tmp_path / "plain.img"
    assert convert(f"oci:{busybox_oci}", "-o", str(out)).returncode == 0
    return ext4_tree(out)


def test_gpt_partition_holds_the_same_filesystem(
    convert: Convert, busybox_oci: Path, tmp_path: Path, plain_tree: dict[str, tuple[object, ...]]
) -> None:
    out = tmp_path / "gpt.img"
    done = convert(f"oci:{busybox_oci}", "-o", str(out), "--partition", "gpt", "--label", "root")
    assert done.returncode == 0, done.stderr
    table = json.loads(
        subprocess.run(
            ["sfdisk", "-J", str(out)], capture_output=True, text=True, check=True
        ).stdout
    )["partitiontable"]
    assert table["label"] == "gpt" and len(table["partitions"]) == 1
    part = table["partitions"][0]
    assert part["start"] == 2048 and part["type"] == "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
    assert (part["start"] + part["size"]) * 512 <= out.stat().st_size - 33 * 512
    assert_fsck_clean(out, offset=MIB)
    with mounted(out, offset=MIB) as root:
        assert tree(root) == plain_tree


def test_qcow2_and_compressed_raw(
    convert: Convert, busybox_oci: Path, tmp_path: Path, plain_tree: dict[str, tuple[object, ...]]
) -> None:
    q = tmp_path / "disk.qcow2"
    assert convert(f"oci:{busybox_oci}", "-o", str(q), "--format", "qcow2").returncode == 0
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(q)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert info["format"] == "qcow2"
    back = tmp_path / "back.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(q), str(back)], check=True)
    assert ext4_tree(back) == plain_tree
    z = tmp_path / "disk.img.zst"
    assert convert(f"oci:{busybox_oci}", "-o", str(z), "--compress", "zst").returncode == 0
    raw = tmp_path / "unz.img"
    subprocess.run(["zstd", "-q", "-d", str(z), "-o", str(raw)], check=True)
    assert ext4_tree(raw) == plain_tree


def test_size_label_uuid(convert: Convert, busybox_oci: Path, tmp_path: Path) -> None:
    out = tmp_path / "sized.img"
    done = convert(
        f"oci:{busybox_oci}", "-o", str(out), "--size", "64M", "--label", "metal", "--uuid", UUID
    )
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size == 64 * MIB
    assert_fsck_clean(out)
    header = subprocess.run(
        ["dumpe2fs", "-h", str(out)], capture_output=True, text=True, check=True
    ).stdout
    assert "Filesystem volume name:   metal" in header and UUID in header
    small = tmp_path / "small.img"
    done = convert(f"oci:{busybox_oci}", "-o", str(small), "--size", "1M")
    assert done.returncode == 1 and "--size too small" in done.stderr and not small.exists()


def test_auto_size_follows_content_and_free(
    convert: Convert, busybox_oci: Path, tmp_path: Path
) -> None:
    sizes = {}
    for free in ("0%", "100%"):
        out = tmp_path / f"free{free[:-1]}.img"
        assert convert(f"oci:{busybox_oci}", "-o", str(out), "--free", free).returncode == 0
        sizes[free] = out.stat().st_size
    content = 2 * MIB  # busybox (1.9 MiB) and a few small files
    assert sizes["0%"] < 16 * MIB  # never a fixed 200 MB
    assert sizes["100%"] - sizes["0%"] >= content * 0.9


@pytest.mark.parametrize(
    "args",
    [
        ["UPPER/Case:bad tag"],
        ["oci:/nonexistent-dir", "--size", "lots"],
        ["oci:/nonexistent-dir", "--format", "qcow2", "--compress", "xz"],
        ["oci:/nonexistent-dir", "--platform", "linux"],
        ["oci:/nonexistent-dir", "--registry-mirror", "docker.io"],
        ["oci:/nonexistent-dir", "--label", "seventeen-bytes!!"],
        ["oci:/nonexistent-dir", "--uuid", "not-a-uuid"],
        ["oci:/nonexistent-dir", "--writer", "tar"],
    ],
)
def test_usage_errors_exit_2(convert: Convert, tmp_path: Path, args: list[str]) -> None:
    done = convert(*args, "-o", str(tmp_path / "x.img"))
    assert done.returncode == 2, done.stderr
    assert "img-from-container" in done.stderr and "Traceback" not in done.stderr


def test_missing_local_sources_exit_3(convert: Convert, tmp_path: Path) -> None:
    for image in ("oci:/nonexistent-dir", f"docker-archive:{tmp_path}/none.tar"):
        done = convert(image, "-o", str(tmp_path / "x.img"))
        assert done.returncode == 3, done.stderr
