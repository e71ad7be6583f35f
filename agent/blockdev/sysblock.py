"""The block devices the kernel knows, from sysfs, and the one a `root=` spec names.

No udev runs in the initramfs, so this reads /sys/class/block itself and probes each node
under /dev (devtmpfs creates them). Both roots are arguments so tests can use their own.
Devices of size 0 (unused ram and loop devices, empty CD drives) are skipped: there is
nothing on them to read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.blockdev import BlockDevError
from agent.blockdev.probe import probe
from agent.rootspec import BlockInfo, RootKind, RootSpec

SYSFS_SECTOR = 512  # sysfs `size` counts 512-byte sectors whatever the device's own size


@dataclass(frozen=True)
class SysBlockDevice:
    name: str  # as in /sys/class/block; "!" stands for "/" (cciss!c0d0)
    size: int  # bytes
    partition: int | None = None  # its number, for a partition
    parent: str | None = None  # the whole disk's name, for a partition

    def node(self, dev_root: Path) -> Path:
        return dev_root / self.name.replace("!", "/")

    def sort_key(self) -> tuple[str, int]:
        return (self.parent or self.name, self.partition or 0)


def list_block_devices(sys_root: Path = Path("/sys")) -> list[SysBlockDevice]:
    """Whole disks and partitions, each disk followed by its partitions in number order."""
    class_dir = sys_root / "class" / "block"
    try:
        entries = list(class_dir.iterdir())
    except OSError as e:
        raise BlockDevError(f"cannot list {class_dir}: {e.strerror} (is sysfs mounted?)") from e
    devices = [device for entry in entries if (device := _read_entry(entry)) is not None]
    return sorted((d for d in devices if d.size > 0), key=SysBlockDevice.sort_key)


def _read_entry(entry: Path) -> SysBlockDevice | None:
    try:
        size = int((entry / "size").read_text()) * SYSFS_SECTOR
        partition_file = entry / "partition"
        if not partition_file.exists():
            return SysBlockDevice(entry.name, size)
        number = int(partition_file.read_text())
        return SysBlockDevice(entry.name, size, number, entry.resolve().parent.name)
    except (OSError, ValueError):
        return None  # vanished while we looked, or not a device directory


def find_root(
    spec: RootSpec,
    sys_root: Path = Path("/sys"),
    dev_root: Path = Path("/dev"),
    on_skip: Callable[[str], None] | None = None,
) -> BlockInfo | None:
    """The first device `spec` selects, or None (the caller may wait and ask again).
    Devices that cannot be read are skipped and reported to `on_skip`."""
    if spec.kind is RootKind.PATH:
        node = dev_root / spec.value.removeprefix("/dev/")
        if not node.exists():
            return None
        return probe(str(node), sys_root=sys_root, dev_root=dev_root)[0]
    for device in list_block_devices(sys_root):
        try:
            info = probe(str(device.node(dev_root)), sys_root=sys_root, dev_root=dev_root)[0]
        except BlockDevError as e:
            if on_skip is not None:
                on_skip(str(e))
            continue
        if spec.matches(info):
            return info
    return None
