"""A device in sysfs and its chain of parents, read the way udev reads them.

Each directory under /sys/devices with a `subsystem` link is a device; its parents are the
directories above it. `attr` reads one attribute (udev's `$attr{…}`, trailing whitespace
stripped); `attr_up` the first one found walking up the chain (udev's `ATTRS{…}`). The root
is an argument, so tests build their own tree of directories and links.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SysDevice:
    path: Path  # resolved, under SYS/devices
    top: Path  # SYS/devices: the chain ends below it

    @classmethod
    def of_class(cls, sys_root: Path, klass: str, name: str) -> SysDevice | None:
        link = sys_root / "class" / klass / name
        try:
            path = link.resolve(strict=True)
        except OSError:
            return None
        return cls(path, (sys_root / "devices").resolve())

    @property
    def sysname(self) -> str:
        return self.path.name

    @property
    def subsystem(self) -> str | None:
        try:
            return os.path.basename(os.readlink(self.path / "subsystem"))
        except OSError:
            return None

    @property
    def devtype(self) -> str | None:
        return self.uevent().get("DEVTYPE")

    @property
    def virtual(self) -> bool:
        return (self.top / "virtual") in self.path.parents

    def uevent(self) -> dict[str, str]:
        text = self.raw("uevent") or ""
        pairs = (line.partition("=") for line in text.splitlines())
        return {key: value for key, eq, value in pairs if eq}

    def raw(self, name: str) -> str | None:
        try:
            return (self.path / name).read_text(errors="replace")
        except OSError:
            return None

    def binary(self, name: str) -> bytes | None:
        try:
            return (self.path / name).read_bytes()
        except OSError:
            return None

    def attr(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        return value.rstrip() or None

    def attr_up(self, name: str) -> str | None:
        return next((v for d in self.chain() if (v := d.attr(name)) is not None), None)

    def link_name(self, name: str) -> str | None:
        """The last element of a link's target (`driver` → `virtio_net`)."""
        try:
            return os.path.basename(os.readlink(self.path / name))
        except OSError:
            return None

    def parent(self) -> SysDevice | None:
        above = self.path.parent
        if above == self.top or self.top not in above.parents:
            return None
        return SysDevice(above, self.top)

    def chain(self) -> Iterator[SysDevice]:
        """This device and every directory above it, nearest first."""
        device: SysDevice | None = self
        while device is not None:
            yield device
            device = device.parent()

    def find_up(self, subsystem: str, devtype: str | None = None) -> SysDevice | None:
        """The nearest of this device and its parents in `subsystem` (and of `devtype`)."""
        for device in self.chain():
            if device.subsystem == subsystem and (devtype is None or device.devtype == devtype):
                return device
        return None
