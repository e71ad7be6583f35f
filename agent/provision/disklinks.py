"""/dev/disk/by-id, by-path, by-uuid, by-label, by-partuuid and by-partlabel, made by the
agent, since no udev runs in the initramfs: templates name disks by stable names.

The names are udev's (`agent.provision.diskids` for by-id and by-path, the superblock and
partition-table probe of `agent.blockdev` for the rest; labels encoded as udev encodes
them, `\\x20` for a space). Links are relative (`../../vda1`) as udev makes them. `refresh`
makes the six directories say what the disks say now: it adds and replaces links and
removes the ones whose device or filesystem is gone; other directories under /dev/disk are
left alone. When two devices claim one name (the same image written to two disks), the
first in sysfs order keeps it and a note says so.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path

from agent.blockdev import BlockDevError
from agent.blockdev.probe import probe
from agent.blockdev.sysblock import SysBlockDevice, list_block_devices
from agent.log import Log
from agent.provision.diskids import DiskIds, disk_ids
from agent.provision.sysfs import SysDevice
from agent.provision.vpd import encoded

KINDS = ("by-id", "by-path", "by-uuid", "by-label", "by-partuuid", "by-partlabel")
# The kernel names 60-persistent-storage.rules handles; others (dm-*, md*, zram*) get none.
KERNEL_NAMES = (
    "loop*", "mmcblk*[0-9]", "msblk*[0-9]", "mspblk*[0-9]", "nvme*", "sd*", "sr*", "vd*",
    "xvd*", "bcache*", "cciss*", "dasd*", "ubd*", "ubi*", "scm*", "pmem*", "nbd*", "zd*",
)  # fmt: skip


@dataclass
class Plan:
    links: dict[str, str] = field(default_factory=dict)  # "by-id/virtio-x" → "vda"
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, node: str) -> None:
        leaf = name.split("/", 1)[1]
        if leaf in ("", ".", "..") or "/" in leaf:
            return  # an empty name, or one that would leave its directory
        held = self.links.setdefault(name, node)
        if held != node:
            self.notes.append(f"/dev/disk/{name}: {held} and {node} both claim it; {held} keeps it")


def plan(sys_root: Path = Path("/sys"), dev_root: Path = Path("/dev")) -> Plan:
    """Every link the disks call for now."""
    wanted = Plan()
    disks: dict[str, DiskIds] = {}
    for block in list_block_devices(sys_root):
        node = block.name.replace("!", "/")
        if not any(fnmatch.fnmatchcase(block.name, p) for p in KERNEL_NAMES):
            continue
        if not (dev_root / node).exists() or _unbacked_loop(sys_root, block):
            continue
        disk = block.parent or block.name
        if disk not in disks:
            device = SysDevice.of_class(sys_root, "block", disk)
            disks[disk] = disk_ids(device) if device is not None else DiskIds()
        ids = disks[disk]
        suffix = f"-part{block.partition}" if block.partition is not None else ""
        for name in ids.by_id:
            wanted.add(f"by-id/{name}{suffix}", node)
        for name in ids.by_path:
            wanted.add(f"by-path/{name}{suffix}", node)
        _filesystem_links(wanted, dev_root, node, sys_root)
    return wanted


def _unbacked_loop(sys_root: Path, block: SysBlockDevice) -> bool:
    name = block.parent or block.name
    return (
        name.startswith("loop") and not (sys_root / "block" / name / "loop/backing_file").exists()
    )


def _filesystem_links(wanted: Plan, dev_root: Path, node: str, sys_root: Path) -> None:
    try:
        info = probe(str(dev_root / node), sys_root=sys_root, dev_root=dev_root)[0]
    except BlockDevError:
        return
    if info.fstype and info.uuid:
        wanted.add(f"by-uuid/{encoded(info.uuid)}", node)
    if info.fstype and info.label:
        wanted.add(f"by-label/{encoded(info.label)}", node)
    if info.partuuid:
        wanted.add(f"by-partuuid/{info.partuuid}", node)
    if info.partlabel:
        wanted.add(f"by-partlabel/{encoded(info.partlabel)}", node)


def existing(disk_dir: Path) -> dict[str, str]:
    """The links in the six directories now: name → target as written."""
    found = {}
    for kind in KINDS:
        try:
            entries = list(os.scandir(disk_dir / kind))
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                found[f"{kind}/{entry.name}"] = os.readlink(entry.path)
    return found


def refresh(sys_root: Path, dev_root: Path, log: Log) -> Plan:
    """Make /dev/disk/by-* what the disks say now; returns what it planned."""
    wanted = plan(sys_root, dev_root)
    disk_dir = dev_root / "disk"
    targets = {name: f"../../{node}" for name, node in wanted.links.items()}
    have = existing(disk_dir)
    for name, target in have.items():
        if targets.get(name) != target:
            _unlink(disk_dir / name)
    made = 0
    for name, target in targets.items():
        if have.get(name) == target:
            continue
        link = disk_dir / name
        link.parent.mkdir(parents=True, exist_ok=True)
        temporary = link.with_name(f".{link.name}.new")
        _unlink(temporary)
        os.symlink(target, temporary)
        os.replace(temporary, link)
        made += 1
    for note in wanted.notes:
        log.warn(note)
    gone = len(set(have) - set(targets))
    if made or gone:
        log.info(f"disk links: {len(targets)} under {disk_dir} ({made} new, {gone} removed)")
    return wanted


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
