"""/dev/disk/by-* links made by the agent, on real loop devices with real partition
tables and filesystems, against what blkid says udev would name them (`blkid -p -o udev`,
the same probe udev's rules read)."""

from __future__ import annotations

import os
from pathlib import Path

from agent.log import Log
from agent.provision.disklinks import KINDS, existing, refresh
from tests.provision.conftest import LoopMaker, make_nodes, needs_root, partitions_of, run

pytestmark = needs_root
SYS = Path("/sys")
GPT = 'label: gpt\nsize=20M, type=linux, name="my root"\nsize=20M, type=linux, name="a/b"\n'
DOS = "label: dos\nlabel-id: 0x5ca1ab1e\nsize=20M, type=83\nsize=20M, type=83\n"


def udev_names(node: str) -> set[str]:
    """The by-uuid/label/partuuid/partlabel links udev's rules derive from blkid's probe."""
    props = dict(
        line.split("=", 1)
        for line in run("blkid", "-p", "-o", "udev", node).splitlines()
        if "=" in line
    )
    names = set()
    if props.get("ID_FS_USAGE") in ("filesystem", "other", "crypto"):
        if props.get("ID_FS_UUID_ENC"):
            names.add(f"by-uuid/{props['ID_FS_UUID_ENC']}")
        if props.get("ID_FS_LABEL_ENC"):
            names.add(f"by-label/{props['ID_FS_LABEL_ENC']}")
    if props.get("ID_PART_ENTRY_UUID"):
        names.add(f"by-partuuid/{props['ID_PART_ENTRY_UUID']}")
    if props.get("ID_PART_ENTRY_SCHEME") == "gpt" and props.get("ID_PART_ENTRY_NAME"):
        names.add(f"by-partlabel/{props['ID_PART_ENTRY_NAME']}")
    return names


def ours(dev: Path, loop: str) -> dict[str, str]:
    """Links pointing at this loop device or its partitions: name → node name."""
    name = Path(loop).name
    found = {}
    for link, target in existing(dev / "disk").items():
        node = Path(target).name
        if node == name or node.startswith(f"{name}p"):
            found[link] = node
    return found


def expected(loop: str) -> dict[str, str]:
    nodes = [Path(loop).name, *partitions_of(loop)]
    return {link: node for node in nodes for link in udev_names(f"/dev/{node}")}


def format_gpt(loop: str) -> None:
    run("mkfs.ext4", "-q", "-L", "root fs", f"{loop}p1")
    run("mkfs.vfat", "-n", "DATA", f"{loop}p2")


def test_gpt_links_are_udevs(loops: LoopMaker, dev: Path) -> None:
    loop = loops("gpt", GPT)
    format_gpt(loop)
    make_nodes(dev, loop)
    refresh(SYS, dev, Log())
    links = ours(dev, loop)
    assert links == expected(loop)
    assert "by-partlabel/a\\x2fb" in links and "by-label/root\\x20fs" in links
    for link, node in links.items():
        assert (dev / "disk" / link).resolve() == (dev / node).resolve()
        assert os.readlink(dev / "disk" / link) == f"../../{node}"


def test_dos_partitions_get_partuuids_and_no_partlabels(loops: LoopMaker, dev: Path) -> None:
    loop = loops("dos", DOS)
    run("mkfs.ext4", "-q", "-L", "boot", f"{loop}p1")
    make_nodes(dev, loop)
    refresh(SYS, dev, Log())
    links = ours(dev, loop)
    assert links == expected(loop)
    assert {"by-partuuid/5ca1ab1e-01", "by-partuuid/5ca1ab1e-02", "by-label/boot"} <= set(links)
    assert not any(link.startswith("by-partlabel/") for link in links)


def test_a_new_partition_table_replaces_the_links(loops: LoopMaker, dev: Path) -> None:
    """What the worker does after an action that wrote a partition table."""
    loop = loops("rewrite", GPT)
    format_gpt(loop)
    make_nodes(dev, loop)
    refresh(SYS, dev, Log())
    before = ours(dev, loop)
    run("partx", "-d", loop)
    run(
        "sfdisk",
        "-q",
        "--wipe",
        "always",
        loop,
        stdin='label: gpt\nsize=30M, type=linux, name="new"\n',
    )
    run("partx", "-u", loop)  # -u: adds them, and succeeds if a stale entry is already there
    run("mkfs.ext4", "-q", "-L", "fresh", f"{loop}p1")
    make_nodes(dev, loop)
    refresh(SYS, dev, Log())
    after = ours(dev, loop)
    assert after == expected(loop)
    assert not set(before) & set(after)  # every old partuuid, label and uuid is gone
    assert "by-partlabel/new" in after and "by-label/fresh" in after


def test_links_of_others_stay_and_stale_ones_go(loops: LoopMaker, dev: Path) -> None:
    loop = loops("keep", GPT)
    format_gpt(loop)
    make_nodes(dev, loop)
    (dev / "disk/by-foo").mkdir(parents=True)
    (dev / "disk/by-foo/mine").symlink_to("../../null")
    (dev / "disk/by-id").mkdir()
    (dev / "disk/by-id/gone-disk").symlink_to("../../sdz")
    refresh(SYS, dev, Log())
    assert (dev / "disk/by-foo/mine").is_symlink()
    assert not (dev / "disk/by-id/gone-disk").is_symlink()
    assert {p.name for p in (dev / "disk").iterdir()} >= {"by-foo", "by-uuid", "by-partuuid"}
    assert set(KINDS) >= {p.name for p in (dev / "disk").iterdir()} - {"by-foo"}


def test_hostile_labels_stay_inside_their_directory(loops: LoopMaker, dev: Path) -> None:
    loop = loops(
        "hostile",
        'label: gpt\nsize=20M, type=linux, name=".."\nsize=20M, type=linux, name="../../etc"\n',
    )
    run("mkfs.ext4", "-q", "-L", "../x", f"{loop}p1")
    make_nodes(dev, loop)
    refresh(SYS, dev, Log())
    links = ours(dev, loop)
    assert "by-partlabel/..\\x2f..\\x2fetc" in links and "by-label/..\\x2fx" in links
    assert not any(link.endswith("/..") for link in links)  # a bare ".." is refused, not made
    assert sorted(p.name for p in dev.iterdir()) == sorted(
        ["disk", *(Path(n).name for n in {Path(loop).name, *partitions_of(loop)})]
    )


def test_two_disks_claiming_one_uuid_keep_one_link(
    loops: LoopMaker, dev: Path, tmp_path: Path
) -> None:
    first = loops("twin-a", "")
    run("mkfs.ext4", "-q", "-U", "6a1d3e1e-0000-4000-8000-000000000001", "-L", "twin", first)
    second = loops("twin-b", "")
    run("dd", f"if={first}", f"of={second}", "bs=1M", "count=8", "status=none")
    make_nodes(dev, first)
    make_nodes(dev, second)
    lines: list[str] = []

    class Capture(Log):
        def _emit(self, level: str, message: str) -> None:
            lines.append(message)

    refresh(SYS, dev, Capture())
    target = os.readlink(dev / "disk/by-uuid/6a1d3e1e-0000-4000-8000-000000000001")
    assert target in (f"../../{Path(first).name}", f"../../{Path(second).name}")
    assert any("both claim it" in line for line in lines)
