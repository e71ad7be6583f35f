"""An action image from its registry into a directory, through rootfs_tools.

The registry client is img-from-container's (token auth, verified digests, retries, Range
resumes); the layers are applied with its applier (whiteouts, hostile paths refused,
DiffIDs checked). Blobs go to a cache inside the action's scratch tmpfs and each is
deleted once applied, so the peak is the compressed image plus the tree.

Mirrors: `metalinit.registry_mirror=` (ctx.registry_mirror) and then REGISTRY_MIRROR in
the action's environment, each either a URL (for any registry) or DOMAIN=URL pairs
separated by commas, e.g. `quay.io=http://10.0.0.1:5000,http://10.0.0.1:5001`.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent.actions import ActionContext
from agent.container import ContainerError
from rootfs_tools.image_config import ImageConfig, ImageConfigError
from rootfs_tools.image_config import parse as parse_config
from rootfs_tools.progress import Mode, Progress

MIRROR_ENV = "REGISTRY_MIRROR"
ANY_REGISTRY = "*"


def parse_mirrors(spec: str) -> dict[str, str]:
    """`URL` or `DOMAIN=URL`, comma-separated → {domain or "*": URL}. Pure."""
    mirrors: dict[str, str] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if item.startswith(("http://", "https://")):
            domain, url = ANY_REGISTRY, item
        else:
            domain, _, url = item.partition("=")
            if not domain or not url.startswith(("http://", "https://")):
                raise ContainerError(
                    f"registry mirror {item!r}: expected http(s)://HOST[:PORT] or "
                    "DOMAIN=http(s)://HOST[:PORT]"
                )
        mirrors[domain] = url.rstrip("/")
    return mirrors


def mirror_for(domain: str, *specs: str) -> str:
    """The mirror for `domain` from the specs, later ones first; "" if none names one."""
    for spec in reversed(specs):
        mirrors = parse_mirrors(spec)
        found = mirrors.get(domain) or mirrors.get(ANY_REGISTRY)
        if found:
            return found
    return ""


class _Progress(Progress):
    """rootfs_tools' progress display, sent to the action's say and progress instead."""

    def __init__(self, ctx: ActionContext) -> None:
        super().__init__(Mode.QUIET)
        self.ctx, self.done, self.total = ctx, 0, 0
        self.counting = threading.Lock()  # layers download on several threads

    def say(self, text: str) -> None:
        self.ctx.say(f"metalinit: {text}")

    def task(self, description: str, total: int) -> Callable[[int], None]:
        self.total += total

        def advance(n: int) -> None:
            with self.counting:
                self.done += n
                self.ctx.progress(self.done, self.total)

        return advance


def host_platform() -> str:
    from rootfs_tools.cli import MACHINES

    return "linux/" + MACHINES.get(platform.machine(), platform.machine())


def preload() -> None:
    """Import the registry client now (in the worker, before it forks the next attempt),
    so that each container action's child does not import it again."""
    try:
        from rootfs_tools import build, pull, registry  # noqa: F401
    except ImportError:
        pass  # the child says so, as the action's failure


def pull_into(ctx: ActionContext, tree: Path, cache_dir: Path) -> ImageConfig:
    """Pull ctx.image and apply its layers into `tree`; returns the image's config."""
    try:
        import requests  # noqa: F401 - only to say plainly that it is missing
    except ModuleNotFoundError:
        raise ContainerError(
            f"cannot pull {ctx.image}: this agent was built without the requests package, "
            "which the registry client needs; build it with requests, or make the action "
            "a built-in one"
        ) from None
    from rootfs_tools import build, pull
    from rootfs_tools.blobcache import BlobCache
    from rootfs_tools.errors import RootfsToolsError
    from rootfs_tools.layers import apply_layer
    from rootfs_tools.manifest import Platform
    from rootfs_tools.reference import parse_reference
    from rootfs_tools.registry import Settings

    started = time.monotonic()
    try:
        ref = parse_reference(ctx.image)
        mirror = mirror_for(ref.domain, ctx.registry_mirror, ctx.env.get(MIRROR_ENV, ""))
        settings = Settings(mirrors={ref.domain: mirror} if mirror else {})
        ctx.say(f"metalinit: pulling {ref}" + (f" from the mirror {mirror}" if mirror else ""))
        progress = _Progress(ctx)
        image = pull.resolve(
            ref, settings, Platform.parse(host_platform()), BlobCache(cache_dir), progress
        )
        os.makedirs(tree, mode=0o755, exist_ok=True)
        for layer in image.layers:
            build.apply_blob(lambda stream: apply_layer(str(tree), stream), layer)
            Path(layer.path).unlink(missing_ok=True)
        config = parse_config(image.config)
    except RootfsToolsError as err:
        raise ContainerError(f"cannot pull {ctx.image}: {err}") from None
    except ImageConfigError as err:
        raise ContainerError(f"{ctx.image}: its config is unusable: {err}") from None
    ctx.say(
        f"metalinit: {ref} ({image.manifest_digest[:19]}): {len(image.layers)} layers, "
        f"{progress.total >> 10} KiB, unpacked in {time.monotonic() - started:.1f} s"
    )
    return config
