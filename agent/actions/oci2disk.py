"""`oci2disk`: a disk from an image in a registry, by `rootfs_tools`.

The hub action's variables: IMG_URL (a registry reference), DEST_DISK, COMPRESSED,
REGISTRY_USERNAME, REGISTRY_PASSWORD, SKIP_VERIFY (TLS not verified, and plain http tried,
as Docker's insecure registries). Two kinds of image are told apart by the manifest:

- a disk image stored as an artifact (`oras push REG/debian:raw.gz debian.raw.gz`, what
  the hub action expects): a config that is no image config and one layer named by the
  `org.opencontainers.image.title` annotation. That layer is streamed onto the disk as
  image2disk streams a URL, verified against its digest, decompressed by magic bytes (or,
  with COMPRESSED, by the file's or the reference's extension), partitions rescanned.
- a container image (ours in addition): its layers are applied and written straight onto
  DEST_DISK as an ext4 filesystem spanning the disk, by the writer of `img-from-container`
  (no partition table: boot it as `root=/dev/sda`, or write to a partition). The image's
  config is kept at /.metalinit/image.json, so the agent can boot it as a container.

Layers are downloaded into the blob cache under the action's scratch directory first (in
the initramfs that is memory); an artifact's disk image is streamed, never cached.
"""

from __future__ import annotations

import errno
import hashlib
import os
import platform
import uuid
from typing import Any

from agent.actions import ActionContext, ActionError, Then
from agent.actions.checksum import Expected
from agent.actions.diskwrite import report, rescan_partitions, write_image
from agent.actions.envvars import flag, required, text
from agent.actions.stream import Download
from agent.actions.target import Target, open_target

IMAGE_CONFIGS = frozenset({
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
})  # fmt: skip
TITLE = "org.opencontainers.image.title"
MACHINES = {"x86_64": "amd64", "aarch64": "arm64"}
EXT4_MAGIC = (1024 + 56, b"\x53\xef")


def _settings(ctx: ActionContext, ref: Any) -> Any:
    from rootfs_tools.registry import Settings

    user = ""
    username, password = text(ctx.env, "REGISTRY_USERNAME"), ctx.env.get("REGISTRY_PASSWORD", "")
    if username:
        user = f"{username}:{password}"
    insecure = frozenset({ref.domain}) if flag(ctx.env, "SKIP_VERIFY") else frozenset()
    mirrors = {ref.domain: ctx.registry_mirror} if ctx.registry_mirror else {}
    return Settings(mirrors=mirrors, insecure=insecure, user=user)


def run(ctx: ActionContext) -> Then | None:
    from rootfs_tools import manifest as mf
    from rootfs_tools.errors import RootfsToolsError
    from rootfs_tools.reference import Reference, parse_source
    from rootfs_tools.registry import Registry

    env = ctx.env
    reference = required(env, "IMG_URL", "an image in a registry, such as REGISTRY/debian:raw.gz")
    disk = required(env, "DEST_DISK", "the disk to write, such as /dev/sda")
    try:
        ref = parse_source(reference)
        if not isinstance(ref, Reference):
            raise ActionError(f"IMG_URL={reference!r}: expected a registry reference")
        settings = _settings(ctx, ref)
        registry = Registry(ref, settings)
        data, media_type, _ = registry.manifest(ref.ref)
        if ref.digest and "sha256:" + hashlib.sha256(data).hexdigest() != ref.digest:
            raise ActionError(f"{ref}: the registry's manifest does not have the digest asked for")
        parsed = mf.parse(data, media_type)
        artifact = isinstance(parsed, mf.Manifest) and parsed.config.media_type not in IMAGE_CONFIGS
        layer = _disk_layer(ref, parsed) if artifact else None
        target = open_target(disk, "DEST_DISK")
        try:
            if layer is not None:
                _artifact(ctx, registry, ref, layer, target)
            else:
                _container(ctx, ref, settings, target)
        finally:
            target.close()
    except RootfsToolsError as e:
        raise ActionError(f"IMG_URL={reference}: {e}") from None
    return None


def _disk_layer(ref: Any, manifest: Any) -> Any:
    titled = [layer for layer in manifest.layers if layer.annotations.get(TITLE)]
    if len(titled) != 1:
        names = ", ".join(layer.annotations.get(TITLE, "?") for layer in titled) or "none"
        raise ActionError(
            f"{ref} is no container image, and a disk image artifact has exactly one layer "
            f"named by {TITLE} (this one: {names})"
        )
    return titled[0]


def _artifact(ctx: ActionContext, registry: Any, ref: Any, layer: Any, target: Target) -> None:
    title = layer.annotations[TITLE]
    algorithm, _, digits = layer.digest.partition(":")
    path = f"/v2/{ref.path}/blobs/{layer.digest}"
    download = Download(
        f"{ref} ({title})",
        lambda headers: registry.get(path, headers, True, what=f"blob {layer.digest}"),
        cancelled=ctx.cancelled,
        say=ctx.say,
    )
    from agent.actions.decoders import by_extension

    name_path = title if by_extension(title) else str(ref)
    try:
        written = write_image(
            ctx,
            download,
            target,
            name_path=name_path,
            compressed=flag(ctx.env, "COMPRESSED"),
            expected=Expected(algorithm, digits),
        )
    finally:
        download.close()
    report(ctx, written, target)


def _container(ctx: ActionContext, ref: Any, settings: Any, target: Target) -> None:
    from rootfs_tools import manifest as mf
    from rootfs_tools import pull
    from rootfs_tools.blobcache import BlobCache
    from rootfs_tools.progress import Mode, Progress

    if not target.is_block or target.size is None:
        raise ActionError(f"DEST_DISK={target.path}: a container image needs a block device")
    arch = MACHINES.get(platform.machine(), platform.machine())
    ctx.say(f"{ref}: a container image; pulling its layers for linux/{arch}")
    cache = BlobCache(ctx.scratch / "blobs")
    with Progress(Mode.QUIET) as quiet:
        image = pull.resolve(ref, settings, mf.Platform("linux", arch), cache, quiet)
    fs_uuid = str(uuid.uuid4())
    entries = write_ext4(ctx, image, target, fs_uuid)
    ctx.say(f"wrote ext4 UUID={fs_uuid} ({entries} entries) over all of {target.path}")
    rescan_partitions(ctx, target)  # a partition table that was there is gone now


def write_ext4(ctx: ActionContext, image: Any, target: Target, fs_uuid: str) -> int:
    """The image's layers as an ext4 filesystem over the whole of `target`, written as
    img-from-container's direct writer writes an image file; returns the entries applied."""
    from rootfs_tools.build import BIND_FILLED, apply_blob, created_time, image_json
    from rootfs_tools.ext4_format import BLOCK, FormatError
    from rootfs_tools.ext4_writer import Ext4Writer
    from rootfs_tools.image_config import IMAGE_JSON
    from rootfs_tools.imagetree import ImageTree

    assert target.size is not None
    target.wipe()  # no old partition table (sector 0, the backup GPT) may outlive this
    target.buffered()  # the ext4 writer writes blocks of any size and place
    writer = Ext4Writer(target.fd, 0, target.size // BLOCK * BLOCK)
    mtime = created_time(image.config)
    tree = ImageTree(writer.store, mtime)
    total, done, entries = sum(layer.size for layer in image.layers), 0, 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        ctx.progress(done, total)

    for i, layer in enumerate(image.layers, 1):
        count = apply_blob(tree.apply, layer, advance)
        entries += count
        ctx.say(f"applied layer {i}/{len(image.layers)} {layer.digest[7:19]}: {count} entries")
    tree.add_file(IMAGE_JSON, image_json(image), mtime, replace=True)
    for rel in BIND_FILLED:
        tree.add_file(rel, b"", mtime, replace=False)
    try:
        writer.finish(tree.root, 0.0, "", fs_uuid)
    except FormatError as e:
        raise ActionError(f"cannot write this image as ext4 on {target.path}: {e}") from None
    except OSError as e:
        # The writer's very last step sizes an image file with ftruncate, which a block
        # device refuses (EINVAL); all else is written by then, as the check below shows.
        if e.errno != errno.EINVAL:
            raise
    os.fsync(target.fd)
    with open(target.path, "rb") as disk:
        offset, magic = EXT4_MAGIC
        disk.seek(offset)
        if disk.read(len(magic)) != magic:
            raise ActionError(f"{target.path}: the ext4 superblock is not there after writing")
    return entries
