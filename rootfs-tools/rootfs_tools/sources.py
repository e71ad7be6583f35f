"""Local image sources: `docker save` tarballs (both forms) and OCI image layouts.

Each yields a `Resolved` image: the config blob as stored, and where each layer's bytes are
(a file, and an offset when the layer sits inside an uncompressed archive). Nothing is
trusted: every blob is verified when it is read.
"""

from __future__ import annotations

import json
import os
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rootfs_tools import manifest as mf
from rootfs_tools.blobcache import BlobCache, VerifiedReader, split_digest
from rootfs_tools.errors import IntegrityError, NotFoundError, UsageError
from rootfs_tools.reference import DockerArchive, OciLayout

LAYOUT_INDEX = "index.json"
ARCHIVE_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Layer:
    path: str
    digest: str
    size: int
    media_type: str
    diff_id: str
    offset: int = 0  # inside an uncompressed archive; 0 for a file of its own
    cached: bool = False  # in the blob cache: removed if it turns out corrupt

    def open(self) -> VerifiedReader:
        try:
            raw = open(self.path, "rb")  # noqa: SIM115 - owned by the VerifiedReader
        except FileNotFoundError:
            raise NotFoundError(f"layer {self.digest}: its blob {self.path} is missing") from None
        if not stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
            raw.close()
            raise IntegrityError(f"layer {self.digest}: its blob {self.path} is not a file")
        raw.seek(self.offset)
        return VerifiedReader(
            raw, self.digest, self.size, f"layer {self.digest}", bounded=bool(self.offset)
        )


@dataclass(frozen=True)
class Resolved:
    reference: str
    manifest_digest: str
    platform: str
    config: bytes
    layers: tuple[Layer, ...]


def read_verified(path: Path, desc: mf.Descriptor, what: str) -> bytes:
    try:
        raw = open(path, "rb")  # noqa: SIM115 - owned by the VerifiedReader
    except FileNotFoundError:
        raise NotFoundError(f"{what}: blob {desc.digest} is missing ({path})") from None
    with VerifiedReader(raw, desc.digest, desc.size, what) as reader:
        data = reader.read()
        reader.finish()
    return data


def assemble(
    reference: str,
    manifest_digest: str,
    manifest: mf.Manifest,
    config: bytes,
    layer_path: Callable[[mf.Descriptor], Path],
    *,
    cached: bool = False,
) -> Resolved:
    """Pair layers with the config's DiffIDs; `layer_path(desc)` says where a blob is."""
    info = mf.parse_config(config)
    if len(info.diff_ids) != len(manifest.layers):
        raise IntegrityError(
            f"the manifest has {len(manifest.layers)} layers but the config "
            f"{len(info.diff_ids)} diff_ids"
        )
    layers = tuple(
        Layer(str(layer_path(d)), d.digest, d.size, d.media_type, diff, cached=cached)
        for d, diff in zip(manifest.layers, info.diff_ids, strict=True)
    )
    return Resolved(reference, manifest_digest, str(info.platform), config, layers)


def _layout_blob(root: Path, digest: str) -> Path:
    algorithm, hexpart = split_digest(digest)
    return root / "blobs" / algorithm / hexpart


def from_oci_layout(src: OciLayout, platform: mf.Platform) -> Resolved:
    root = Path(src.path)
    try:
        index = mf.parse((root / LAYOUT_INDEX).read_bytes(), mf.OCI_INDEX)
    except FileNotFoundError:
        raise NotFoundError(f"{src}: no {LAYOUT_INDEX}; is this an OCI image layout?") from None
    assert isinstance(index, mf.Index)
    entries = [
        m for m in index.manifests if not src.tag or m.annotations.get(mf.REF_NAME) == src.tag
    ]
    if len(entries) != 1:
        tags = ", ".join(m.annotations.get(mf.REF_NAME, "?") for m in index.manifests)
        problem = "no image tagged so" if not entries else "several images; name one as oci:DIR:TAG"
        raise NotFoundError(f"{src}: {problem} (tags: {tags or 'none'})")
    desc = entries[0]
    for _ in range(4):
        data = read_verified(_layout_blob(root, desc.digest), desc, f"{src}: manifest")
        parsed = mf.parse(data, desc.media_type)
        if isinstance(parsed, mf.Manifest):
            config = read_verified(
                _layout_blob(root, parsed.config.digest), parsed.config, "config"
            )
            return assemble(
                str(src), desc.digest, parsed, config, lambda d: _layout_blob(root, d.digest)
            )
        desc = mf.select(parsed, platform)
    raise IntegrityError(f"{src}: indexes nested too deeply")


def _archive_member(members: dict[str, tarfile.TarInfo], name: str) -> tarfile.TarInfo:
    """The member named so; `docker save` stores a repeated layer as a symlink (or a hard
    link) to the first copy, which is followed inside the archive, a few steps at most."""
    wanted = os.path.normpath(name)
    for _ in range(8):
        member = members.get(wanted)
        if member is None:
            break
        if member.issym():
            wanted = os.path.normpath(os.path.join(os.path.dirname(wanted), member.linkname))
        elif member.islnk():
            wanted = os.path.normpath(member.linkname)
        else:
            return member
        if wanted.startswith(("/", "..")):
            break
    raise IntegrityError(f"the archive lacks {name!r}")


def from_docker_archive(src: DockerArchive, cache: BlobCache) -> Resolved:
    try:
        tar = tarfile.open(src.path)  # noqa: SIM115 - closed below
    except (OSError, tarfile.TarError) as err:
        raise NotFoundError(f"{src}: cannot read the archive: {err}") from None
    with tar:
        compressed = not _plain_tar(src.path)
        members = {os.path.normpath(m.name): m for m in tar.getmembers()}
        try:
            entries = json.load(tar.extractfile(_archive_member(members, ARCHIVE_MANIFEST)))  # type: ignore[arg-type]
            entry = entries[0]
            config_name, layer_names = entry["Config"], entry["Layers"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise IntegrityError(
                f"{src}: {ARCHIVE_MANIFEST} is not a docker save manifest"
            ) from None
        config = tar.extractfile(_archive_member(members, config_name)).read()  # type: ignore[union-attr]
        info = mf.parse_config(config)
        if len(info.diff_ids) != len(layer_names):
            raise IntegrityError(
                f"{src}: {len(layer_names)} layers but {len(info.diff_ids)} diff_ids"
            )
        layers = []
        for name, diff_id in zip(layer_names, info.diff_ids, strict=True):
            member = _archive_member(members, name)
            # Both forms store layers uncompressed: their digest is their DiffID.
            if compressed:
                path, offset = str(_to_cache(tar, member, diff_id, cache)), 0
            else:
                path, offset = src.path, member.offset_data
            layers.append(Layer(path, diff_id, member.size, "", diff_id, offset, compressed))
    tags = entry.get("RepoTags") or []
    return Resolved(
        str(src) + (f" ({tags[0]})" if tags else ""), "", str(info.platform), config, tuple(layers)
    )


def _plain_tar(path: str) -> bool:
    """An uncompressed tar, whose members can be read in place at their offsets."""
    with open(path, "rb") as file:
        head = file.read(512)
    return head[257:262] == b"ustar"


def _to_cache(tar: tarfile.TarFile, member: tarfile.TarInfo, digest: str, cache: BlobCache) -> Path:
    if cache.has(digest, member.size):
        return cache.path(digest)
    source = tar.extractfile(member)
    if source is None:
        raise UsageError(f"{member.name} is not a file in the archive")
    writer = cache.writer(digest, member.size)
    while chunk := source.read(1 << 20):
        writer.write(chunk)
    return writer.commit()
