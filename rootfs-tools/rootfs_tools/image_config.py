"""`/.metalinit/image.json`: the image's OCI config blob plus a `metalinit` object.

The one reader shared by the agent (which starts the image from it) and img-from-container
(which writes it). Pure: `parse()` takes bytes; `load()` is the only I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IMAGE_JSON = ".metalinit/image.json"


class ImageConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    reference: str = ""
    manifest_digest: str = ""
    platform: str = ""


def _strings(config: dict[str, Any], key: str) -> tuple[str, ...]:
    value = config.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ImageConfigError(f"config.{key} must be a list of strings")
    return tuple(value)


def _string(config: dict[str, Any], key: str) -> str:
    value = config.get(key) or ""
    if not isinstance(value, str):
        raise ImageConfigError(f"config.{key} must be a string")
    return value


def _object(parent: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ImageConfigError(f"{where}{key} must be an object")
    return value


def parse(data: bytes) -> ImageConfig:
    try:
        blob = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise ImageConfigError(f"not JSON: {err}") from None
    if not isinstance(blob, dict):
        raise ImageConfigError("the top level must be an object")
    config = _object(blob, "config")
    meta = _object(blob, "metalinit")
    labels = _object(config, "Labels", "config.")
    ports = _object(config, "ExposedPorts", "config.")
    return ImageConfig(
        entrypoint=_strings(config, "Entrypoint"),
        cmd=_strings(config, "Cmd"),
        env=_strings(config, "Env"),
        working_dir=_string(config, "WorkingDir"),
        user=_string(config, "User"),
        exposed_ports=tuple(sorted(ports)),
        labels={str(k): str(v) for k, v in labels.items()},
        reference=str(meta.get("reference", "")),
        manifest_digest=str(meta.get("manifest_digest", "")),
        platform=str(meta.get("platform", "")),
    )


def load(root: Path) -> ImageConfig | None:
    """The config stored in a root filesystem, or None if it carries none."""
    path = root / IMAGE_JSON
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return parse(data)
    except ImageConfigError as err:
        raise ImageConfigError(f"{path}: {err}") from None
