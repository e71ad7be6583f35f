"""Pinned kernel manifests: one JSON file per kernel under `kernels/manifests/`.

A manifest names a Debian package, its exact version and the sha256 of its .deb. Adding a
kernel is adding a file; nothing here changes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from kernels.errors import KernelError

MANIFEST_DIR = Path(__file__).with_name("manifests")
DEFAULT = "debian-12-amd64"
REQUIRED = ("name", "package", "version", "sha256")
SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Manifest:
    name: str
    package: str
    version: str
    sha256: str
    description: str = ""
    path: Path | None = None

    @property
    def key(self) -> str:
        """The cache directory's name: one per manifest and version."""
        return f"{self.name}-{self.version}"

    def __str__(self) -> str:
        return f"{self.name} ({self.package}={self.version})"


def parse(text: str, origin: Path | None = None) -> Manifest:
    where = str(origin) if origin else "manifest"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KernelError(f"{where}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise KernelError(f"{where}: expected a JSON object")
    missing = [k for k in REQUIRED if not isinstance(data.get(k), str) or not data[k]]
    if missing:
        raise KernelError(f"{where}: missing or empty keys: {', '.join(missing)}")
    if not SHA256.fullmatch(data["sha256"]):
        raise KernelError(f"{where}: sha256 must be 64 lowercase hex digits")
    return Manifest(
        name=data["name"],
        package=data["package"],
        version=data["version"],
        sha256=data["sha256"],
        description=str(data.get("description", "")),
        path=origin,
    )


def available(directory: Path = MANIFEST_DIR) -> list[Manifest]:
    return [parse(p.read_text(), p) for p in sorted(directory.glob("*.json"))]


def load(name: str = DEFAULT, directory: Path = MANIFEST_DIR) -> Manifest:
    path = directory / f"{name}.json"
    if not path.is_file():
        known = ", ".join(m.name for m in available(directory)) or "none"
        raise KernelError(f"no kernel manifest named {name!r} (known: {known})")
    manifest = parse(path.read_text(), path)
    if manifest.name != name:
        raise KernelError(f"{path}: its name is {manifest.name!r}, expected {name!r}")
    return manifest
