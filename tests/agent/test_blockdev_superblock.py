"""Superblocks of real filesystems made by their own mkfs, read by us and by blkid."""

from __future__ import annotations

import shlex
import subprocess
import uuid
from pathlib import Path

import pytest

from agent.blockdev.partitions import parse_mbr
from agent.blockdev.superblock import HEAD_SIZE, Filesystem, identify

FS_UUID = "3f6f1d2a-8c1e-4b7a-9d2e-5a4b3c2d1e0f"

# (id, image size in MiB, mkfs command (the image path is appended), what we must read)
MKFS_CASES = [
    ("ext2", 16, ["mkfs.ext2", "-q", "-F", "-U", FS_UUID, "-L", "e2root"], ("ext2", "e2root")),
    ("ext3", 16, ["mkfs.ext3", "-q", "-F", "-U", FS_UUID, "-L", "e3root"], ("ext3", "e3root")),
    ("ext4", 32, ["mkfs.ext4", "-q", "-F", "-U", FS_UUID, "-L", "e4root"], ("ext4", "e4root")),
    (
        "ext4-no-journal",
        32,
        ["mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-U", FS_UUID, "-L", "nojournal"],
        ("ext4", "nojournal"),
    ),
    (
        "ext2-with-journal-is-ext3",
        16,
        ["mkfs.ext2", "-q", "-F", "-j", "-U", FS_UUID],
        ("ext3", None),
    ),
    ("fat12", 4, ["mkfs.vfat", "-F", "12", "-i", "1234ABCD", "-n", "SMALL"], ("vfat", "SMALL")),
    ("fat16", 32, ["mkfs.vfat", "-F", "16", "-i", "1234ABCD", "-n", "EFI16"], ("vfat", "EFI16")),
    ("fat32", 64, ["mkfs.vfat", "-F", "32", "-i", "1234ABCD", "-n", "EFI32"], ("vfat", "EFI32")),
    ("fat-no-name", 32, ["mkfs.vfat", "-F", "16", "-i", "1234ABCD"], ("vfat", None)),
    (
        "xfs",
        300,
        ["mkfs.xfs", "-q", "-f", "-m", f"uuid={FS_UUID}", "-L", "xroot"],
        ("xfs", "xroot"),
    ),
    ("swap", 16, ["mkswap", "-q", "-U", FS_UUID, "-L", "swap0"], ("swap", "swap0")),
]


def blkid_export(path: Path, offset: int | None = None) -> dict[str, str]:
    """blkid's low-level probe as the oracle: {} when it finds nothing."""
    command = ["blkid", "-p", "-o", "export", *(["-O", str(offset)] if offset else []), str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode in (0, 2), result.stderr
    # export format escapes blanks with a backslash, as a shell word would
    words = shlex.split(result.stdout)
    return dict(word.split("=", 1) for word in words if "=" in word)


def as_blkid_sees(path: Path) -> Filesystem | None:
    tags = blkid_export(path)
    if "TYPE" not in tags:
        return None
    return Filesystem(tags["TYPE"], tags.get("UUID"), tags.get("LABEL"))


def head_of(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(HEAD_SIZE)


@pytest.mark.parametrize(
    ("size_mib", "mkfs", "expected"),
    [pytest.param(size, mkfs, expected, id=name) for name, size, mkfs, expected in MKFS_CASES],
)
def test_mkfs_images_read_as_given_and_as_blkid_reads_them(
    tmp_path: Path, size_mib: int, mkfs: list[str], expected: tuple[str, str | None]
) -> None:
    image = tmp_path / "fs.img"
    with image.open("wb") as f:
        f.truncate(size_mib * 1024 * 1024)
    subprocess.run([*mkfs, str(image)], check=True, capture_output=True)
    fstype, label = expected
    given_uuid = "1234-ABCD" if fstype == "vfat" else FS_UUID

    found = identify(head_of(image))

    assert found == Filesystem(fstype, given_uuid, label)
    assert found == as_blkid_sees(image)


def test_fat_boot_sector_is_not_an_mbr(tmp_path: Path) -> None:
    image = tmp_path / "fat.img"
    with image.open("wb") as f:
        f.truncate(32 * 1024 * 1024)
    subprocess.run(["mkfs.vfat", "-F", "16", str(image)], check=True, capture_output=True)
    head = head_of(image)
    assert head[510:512] == b"\x55\xaa"
    assert parse_mbr(head[:512], 512, len(head)) is None
    assert "PTTYPE" not in blkid_export(image)


def write_image(path: Path, chunks: dict[int, bytes], size: int = 1024 * 1024) -> Path:
    image = bytearray(size)
    for offset, data in chunks.items():
        image[offset : offset + len(data)] = data
    path.write_bytes(bytes(image))
    return path


# Filesystems whose mkfs is not installed here, built from the on-disk format's offsets.
BTRFS_SB = 64 * 1024
ISO_PVD = 32 * 1024
ISO_NEXT = ISO_PVD + 2048


def btrfs_chunks(label: bytes) -> dict[int, bytes]:
    return {
        BTRFS_SB + 0x20: uuid.UUID(FS_UUID).bytes,
        BTRFS_SB + 0x40: b"_BHRfS_M",
        BTRFS_SB + 0x90: (4096).to_bytes(4, "little") + (16384).to_bytes(4, "little"),
        BTRFS_SB + 0x12B: label,
    }


def iso_chunks(label: bytes, joliet: str | None, modified: bytes = b"0" * 16) -> dict[int, bytes]:
    chunks = {
        ISO_PVD: b"\x01CD001\x01",
        ISO_PVD + 40: label.ljust(32),
        ISO_PVD + 813: b"2024010212304500\x00",
        ISO_PVD + 830: modified + b"\x00",
        ISO_NEXT: b"\xffCD001\x01",
    }
    if joliet is not None:
        chunks[ISO_NEXT] = b"\x02CD001\x01"
        chunks[ISO_NEXT + 40] = joliet.encode("utf-16-be").ljust(32, b"\0")[:32]
        chunks[ISO_NEXT + 88] = b"%/E"
        chunks[ISO_NEXT + 2048] = b"\xffCD001\x01"
    return chunks


SYNTHETIC_CASES = [
    ("btrfs", btrfs_chunks(b"bfsroot"), Filesystem("btrfs", FS_UUID, "bfsroot")),
    ("btrfs-no-label", btrfs_chunks(b""), Filesystem("btrfs", FS_UUID, None)),
    ("squashfs4", {0: b"hsqs", 28: (4).to_bytes(2, "little")}, Filesystem("squashfs")),
    (
        "iso9660",
        iso_chunks(b"LIVE_2024", None),
        Filesystem("iso9660", "2024-01-02-12-30-45-00", "LIVE_2024"),
    ),
    (
        "iso9660-modified-date-first",
        iso_chunks(b"LIVE", None, modified=b"2025063023595999"),
        Filesystem("iso9660", "2025-06-30-23-59-59-99", "LIVE"),
    ),
    (
        "iso9660-joliet-label",
        iso_chunks(b"DEBIAN_LIVE", "Debian live"),
        Filesystem("iso9660", "2024-01-02-12-30-45-00", "Debian live"),
    ),
    (
        "iso9660-joliet-truncated",
        iso_chunks(b"A_LONG_VOLUME_LABEL_XYZ", "A_LONG_VOLUME_LA"),
        Filesystem("iso9660", "2024-01-02-12-30-45-00", "A_LONG_VOLUME_LABEL_XYZ"),
    ),
    (
        "swap-v0",
        {4096 - 10: b"SWAP-SPACE"},
        Filesystem("swap"),
    ),
    (
        "swap-64k-page",
        {
            1024: (1).to_bytes(4, "little") + (100).to_bytes(4, "little") + bytes(4),
            1036: uuid.UUID(FS_UUID).bytes + b"bigpage",
            65536 - 10: b"SWAPSPACE2",
        },
        Filesystem("swap", FS_UUID, "bigpage"),
    ),
]


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [pytest.param(chunks, expected, id=name) for name, chunks, expected in SYNTHETIC_CASES],
)
def test_synthetic_superblocks_read_as_blkid_reads_them(
    tmp_path: Path, chunks: dict[int, bytes], expected: Filesystem
) -> None:
    image = write_image(tmp_path / "fs.img", chunks)
    found = identify(head_of(image))
    assert found == expected
    assert as_blkid_sees(image) == expected


def test_blank_and_short_buffers_hold_no_filesystem() -> None:
    assert identify(b"") is None
    assert identify(bytes(HEAD_SIZE)) is None
    assert identify(b"XFSB") is None  # magic, but no room for a plausible block size
