"""A registry image, resolved: manifest (through an index if need be), config, layers.

Layers download in parallel into the blob cache; a blob already there is not fetched.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

from rootfs_tools import manifest as mf
from rootfs_tools.blobcache import BlobCache
from rootfs_tools.errors import IntegrityError
from rootfs_tools.progress import Progress
from rootfs_tools.reference import Reference
from rootfs_tools.registry import Registry, Settings
from rootfs_tools.sources import Resolved, assemble, read_verified

PARALLEL_DOWNLOADS = 4


def _checked(data: bytes, expected: str, what: str) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if expected and expected.startswith("sha256:") and digest != expected:
        raise IntegrityError(f"{what}: content is {digest}, not {expected}")
    return digest


def resolve(
    ref: Reference, settings: Settings, platform: mf.Platform, cache: BlobCache, progress: Progress
) -> Resolved:
    registry = Registry(ref, settings)
    data, media_type, _ = registry.manifest(ref.ref)
    digest = _checked(data, ref.digest, f"manifest of {ref}")
    parsed = mf.parse(data, media_type)
    if isinstance(parsed, mf.Index):
        desc = mf.select(parsed, platform)
        data, media_type, _ = registry.manifest(desc.digest)
        if len(data) != desc.size:
            raise IntegrityError(
                f"{ref}: manifest {desc.digest} is {len(data)} bytes, not {desc.size}"
            )
        digest = _checked(data, desc.digest, f"manifest {desc.digest}")
        parsed = mf.parse(data, media_type or desc.media_type)
        if not isinstance(parsed, mf.Manifest):
            raise IntegrityError(f"{ref}: the index points at another index")
    manifest = parsed
    config_path = registry.blob(manifest.config, cache, lambda n: None)
    config = read_verified(config_path, manifest.config, f"config of {ref}")

    def fetch(i_desc: tuple[int, mf.Descriptor]) -> None:
        i, desc = i_desc
        advance = progress.task(
            f"layer {i + 1}/{len(manifest.layers)} {desc.digest[7:19]}", desc.size
        )
        registry.blob(desc, cache, advance)

    with ThreadPoolExecutor(PARALLEL_DOWNLOADS) as pool:
        list(pool.map(fetch, enumerate(manifest.layers)))
    return assemble(str(ref), digest, manifest, config, lambda d: cache.path(d.digest), cached=True)
