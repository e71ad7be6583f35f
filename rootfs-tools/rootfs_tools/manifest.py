"""Manifests, indexes and image configs: parse the JSON and pick a platform. Pure.

Docker v2 schema 2 and OCI manifests, Docker manifest lists and OCI indexes; an index is
resolved to one manifest by os, architecture and variant.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from rootfs_tools.errors import IntegrityError, NotFoundError, UsageError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
REF_NAME = "org.opencontainers.image.ref.name"
# Variants a platform has when it names none (the image-spec's platform notes).
DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7"}
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(f"--platform {text!r}: expected OS/ARCH[/VARIANT], e.g. linux/amd64")
        return cls(*parts)

    def matches(self, other: Platform) -> bool:
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        if not self.variant:
            return True
        default = DEFAULT_VARIANTS.get(self.architecture, "")
        return (other.variant or default) == self.variant

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]


@dataclass(frozen=True)
class ImageConfigBlob:
    diff_ids: tuple[str, ...]
    platform: Platform


def _object(data: bytes, what: str) -> dict[str, Any]:
    try:
        blob = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise IntegrityError(f"{what} is not JSON: {err}") from None
    if not isinstance(blob, dict):
        raise IntegrityError(f"{what} is not a JSON object")
    return blob


def descriptor(raw: Any, what: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise IntegrityError(f"{what}: a descriptor must be an object")
    digest, size = raw.get("digest"), raw.get("size")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise IntegrityError(f"{what}: bad digest {digest!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise IntegrityError(f"{what}: bad size {size!r}")
    plat = raw.get("platform")
    platform = None
    if isinstance(plat, dict):
        platform = Platform(
            str(plat.get("os", "")), str(plat.get("architecture", "")), str(plat.get("variant", ""))
        )
    annotations = raw.get("annotations") or {}
    return Descriptor(
        media_type=str(raw.get("mediaType", "")),
        digest=digest,
        size=size,
        platform=platform,
        annotations={str(k): str(v) for k, v in annotations.items()},
    )


def parse(data: bytes, media_type: str = "") -> Manifest | Index:
    """A manifest or index; `media_type` is the Content-Type, if the transport had one."""
    blob = _object(data, "the manifest")
    kind = blob.get("mediaType") or media_type
    if not kind:
        kind = OCI_INDEX if "manifests" in blob else OCI_MANIFEST
    if kind in INDEX_TYPES:
        entries = blob.get("manifests")
        if not isinstance(entries, list):
            raise IntegrityError("the index has no manifests list")
        return Index(kind, tuple(descriptor(m, "index entry") for m in entries))
    if kind not in (OCI_MANIFEST, DOCKER_MANIFEST):
        raise UsageError(f"unsupported manifest type {kind!r} (Docker schema 1 is not supported)")
    layers = blob.get("layers")
    if not isinstance(layers, list):
        raise IntegrityError("the manifest has no layers list")
    return Manifest(
        kind,
        descriptor(blob.get("config"), "config"),
        tuple(descriptor(layer, f"layer {i}") for i, layer in enumerate(layers)),
    )


def select(index: Index, wanted: Platform) -> Descriptor:
    for entry in index.manifests:
        if entry.platform is not None and wanted.matches(entry.platform):
            return entry
    offered = ", ".join(str(m.platform) for m in index.manifests if m.platform) or "none"
    raise NotFoundError(f"no manifest for platform {wanted} in the index (it has: {offered})")


def parse_config(data: bytes) -> ImageConfigBlob:
    blob = _object(data, "the image config")
    rootfs = blob.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(
        isinstance(d, str) and _DIGEST.fullmatch(d) for d in diff_ids
    ):
        raise IntegrityError("the image config has no valid rootfs.diff_ids")
    platform = Platform(
        str(blob.get("os", "")), str(blob.get("architecture", "")), str(blob.get("variant", ""))
    )
    return ImageConfigBlob(tuple(diff_ids), platform)
