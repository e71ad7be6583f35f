"""A sysfs tree in a temporary directory: device directories with `subsystem` links,
`uevent` files and attributes, and /sys/class/block links, laid out as the kernel lays
out the real thing (the paths in the tests are copied from real machines)."""

from __future__ import annotations

from pathlib import Path


class SysTree:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "devices").mkdir(parents=True, exist_ok=True)

    def device(
        self,
        rel: str,
        subsystem: str | None = None,
        devtype: str | None = None,
        **attrs: str | bytes,
    ) -> Path:
        path = self.root / "devices" / rel
        path.mkdir(parents=True, exist_ok=True)
        if subsystem is not None:
            (path / "subsystem").symlink_to(self.root / "bus" / subsystem)
        if devtype is not None:
            (path / "uevent").write_text(f"DEVTYPE={devtype}\n")
        for name, value in attrs.items():
            target = path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(value, bytes):
                target.write_bytes(value)
            else:
                target.write_text(value + "\n")
        return path

    def block(self, rel: str, *, size_sectors: int = 2048, **attrs: str | bytes) -> Path:
        """A whole disk at devices/REL (its last element is its name)."""
        path = self.device(rel, "block", "disk", size=str(size_sectors), **attrs)
        klass = self.root / "class" / "block"
        klass.mkdir(parents=True, exist_ok=True)
        (klass / path.name).symlink_to(path)
        return path
