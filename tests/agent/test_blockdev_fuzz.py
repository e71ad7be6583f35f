"""Random and mutated input: the pure parsers return a result or PartitionTableError, and
probe() raises nothing but BlockDevError. Seeded, and bounded in count and time."""

from __future__ import annotations

import random
import subprocess
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.blockdev import BlockDevError
from agent.blockdev.partitions import (
    PartitionTableError,
    parse_ebr,
    parse_gpt_entries,
    parse_gpt_header,
    parse_mbr,
)
from agent.blockdev.probe import probe
from agent.blockdev.superblock import HEAD_SIZE, identify

MIB = 1024 * 1024
CASES = 3000
TIME_LIMIT = 20.0  # seconds per test, whatever the machine's load
GPT_SCRIPT = """\
label: gpt
start=2048, size=8192, type=L, name="one"
start=10240, size=8192, type=S, name="two"
"""
MBR_SCRIPT = "label: dos\nlabel-id: 0x01020304\nstart=2048, size=8192, type=83\n"


def sized_file(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        f.truncate(size)
    return path


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Real heads to mutate: a GPT disk, an MBR disk, ext4, FAT32 and swap."""
    base = tmp_path_factory.mktemp("seeds")
    made: dict[str, bytes] = {}
    for name, script in (("gpt", GPT_SCRIPT), ("mbr", MBR_SCRIPT)):
        disk = sized_file(base / f"{name}.img", 16 * MIB)
        subprocess.run(["sfdisk", "-q", str(disk)], input=script, text=True, check=True)
        made[name] = disk.read_bytes()[:HEAD_SIZE]
    for name, mkfs in (
        ("ext4", ["mkfs.ext4", "-q", "-F", "-L", "fuzz"]),
        ("fat32", ["mkfs.vfat", "-F", "32", "-n", "FUZZ"]),
        ("swap", ["mkswap", "-q", "-L", "fuzz"]),
    ):
        image = sized_file(base / f"{name}.img", 40 * MIB)
        subprocess.run([*mkfs, str(image)], check=True, capture_output=True)
        made[name] = image.read_bytes()[:HEAD_SIZE]
    return made


def with_gpt_crcs_fixed(head: bytearray) -> bytearray:
    """Recompute both CRCs after a mutation, so the fuzzing reaches past the checksums."""
    header_size = min(int.from_bytes(head[524:528], "little"), 512)
    count = int.from_bytes(head[592:596], "little")
    entry_size = int.from_bytes(head[596:600], "little")
    if 0 < count * entry_size <= len(head) - 1024:
        head[600:604] = zlib.crc32(head[1024 : 1024 + count * entry_size]).to_bytes(4, "little")
    if header_size >= 92:
        head[528:532] = bytes(4)
        crc = zlib.crc32(head[512 : 512 + header_size])
        head[528:532] = crc.to_bytes(4, "little")
    return head


def mutations(rng: random.Random, seeds: dict[str, bytes]) -> Iterator[bytes]:
    names = sorted(seeds)
    for case in range(CASES):
        kind = case % 4
        if kind == 0:
            yield rng.randbytes(rng.choice((0, 1, 511, 512, 4096, HEAD_SIZE)))
            continue
        buf = bytearray(seeds[names[case % len(names)]])
        for _ in range(rng.randint(1, 16)):
            buf[rng.randrange(min(len(buf), 2048 if kind == 3 else len(buf)))] = rng.randrange(256)
        if kind == 2:
            buf = buf[: rng.randrange(len(buf) + 1)]
        if kind == 3 and buf[512:520] == b"EFI PART":
            buf = with_gpt_crcs_fixed(buf)
        yield bytes(buf)


def run_bounded(rng: random.Random, seeds: dict[str, bytes], check: Callable[[bytes], None]) -> int:
    started, count = time.monotonic(), 0
    for buf in mutations(rng, seeds):
        check(buf)
        count += 1
        if time.monotonic() - started > TIME_LIMIT:
            break
    return count


def test_identify_never_raises(seeds: dict[str, bytes]) -> None:
    found_types: set[str] = set()

    def check(buf: bytes) -> None:
        found = identify(buf)
        if found is not None:
            found_types.add(found.fstype)

    assert run_bounded(random.Random(1), seeds, check) > 100
    assert {"ext4", "vfat", "swap"} <= found_types  # the mutations did not all destroy them


def test_partition_parsers_return_tables_or_their_error(seeds: dict[str, bytes]) -> None:
    outcomes = {"mbr": 0, "ebr": 0, "gpt": 0, "rejected": 0}

    def check(buf: bytes) -> None:
        disk_size = 16 * MIB
        mbr = parse_mbr(buf[:512], 512, disk_size)
        if mbr is not None:
            outcomes["mbr"] += 1
            assert all(p.start >= 0 and p.start + p.size <= disk_size for p in mbr.partitions)
        ebr = parse_ebr(
            buf[:512],
            ebr_lba=2048,
            extended_lba=2048,
            disk_id=0x01020304,
            first_number=5,
            sector_size=512,
            disk_size=disk_size,
        )
        if ebr is not None:
            outcomes["ebr"] += 1
            assert all(p.start + p.size <= disk_size and p.number >= 5 for p in ebr.partitions)
        try:
            header = parse_gpt_header(
                buf[512:1024], expected_lba=1, sector_size=512, disk_size=disk_size
            )
            table = parse_gpt_entries(
                header, buf[header.entries_lba * 512 :][: header.entries_bytes], 512
            )
        except PartitionTableError:
            outcomes["rejected"] += 1
            return
        outcomes["gpt"] += 1
        assert all(p.start + p.size <= disk_size for p in table.partitions)

    assert run_bounded(random.Random(2), seeds, check) > 100
    assert all(outcomes.values()), outcomes  # each path was taken


def test_probe_raises_only_its_own_error_on_mutated_images(
    tmp_path: Path, seeds: dict[str, bytes]
) -> None:
    rng = random.Random(3)
    image = tmp_path / "mutated.img"
    outcomes = {"ok": 0, "error": 0}
    for count, buf in enumerate(mutations(rng, seeds)):
        if count >= 400:  # each case is a file write and an open
            break
        image.write_bytes(buf)
        with image.open("r+b") as f:
            f.truncate(rng.choice((len(buf), 16 * MIB)))
        try:
            probe(str(image))
            outcomes["ok"] += 1
        except BlockDevError:
            outcomes["error"] += 1
    assert all(outcomes.values()), outcomes
