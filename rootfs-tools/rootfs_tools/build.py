"""Layers → ext4 image, by one of two writers.

`direct` (the default) applies the layers to a tree in memory and writes file data and
metadata straight into the image (`ext4_writer`): nothing is unpacked, no privilege needed.
`mkfs` unpacks into a staging tree and runs `mkfs.ext4 -d`; it must run as (fake) root: as
an ordinary user the CLI runs `python -m rootfs_tools.build JOB.json` inside one `fakeroot`
session, so the applier's chown/mknod/setxattr and the reads of `mkfs.ext4 -d` see the
same faked owners, device nodes and capability xattrs.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from rootfs_tools.blobcache import VerifiedReader
from rootfs_tools.decompress import uncompressed
from rootfs_tools.errors import IntegrityError, RootfsToolsError, UnsafeLayerError
from rootfs_tools.ext4 import (
    GPT_START,
    GPT_TAIL,
    Ext4Options,
    Usage,
    finish_output,
    partition_gpt,
    write_image,
)
from rootfs_tools.ext4_format import FormatError
from rootfs_tools.ext4_writer import Ext4Writer
from rootfs_tools.image_config import IMAGE_JSON
from rootfs_tools.imagetree import ImageTree
from rootfs_tools.layers import Readable, apply_layer, remove_tree, secure_join
from rootfs_tools.progress import Mode, Progress
from rootfs_tools.sources import Layer, Resolved

BIND_FILLED = ("etc/resolv.conf", "etc/hosts", "etc/hostname")
TRAILING_LIMIT = 16 << 20  # bytes after the tar's end: padding, never a whole second stream


@dataclass(frozen=True)
class Job:
    image: Resolved
    output: str
    options: Ext4Options
    work_dir: str


class _Hashing:
    """Passes reads through and hashes them: the DiffID of the uncompressed tar."""

    def __init__(self, raw: Readable) -> None:
        self.raw, self.hash = raw, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hash.update(data)
        return data

    def drain(self, limit: int) -> None:
        after = 0
        while data := self.read(1 << 20):
            after += len(data)
            if after > limit:
                raise IntegrityError(f"more than {limit >> 20} MiB after the end of the layer tar")


class _Prefixed:
    """The blob after its magic bytes were peeked at; reports progress as it is read."""

    def __init__(self, head: bytes, rest: VerifiedReader, advance: Callable[[int], None]) -> None:
        self.head, self.rest, self.advance = head, rest, advance
        advance(len(head))

    def read(self, n: int = -1) -> bytes:
        if self.head:
            data, self.head = (
                (self.head, b"") if n < 0 or n >= len(self.head) else (self.head[:n], self.head[n:])
            )
            return data
        data = self.rest.read(n)
        self.advance(len(data))
        return data


Apply = Callable[[Readable], int]


def apply_blob(apply: Apply, layer: Layer, advance: Callable[[int], None] = lambda n: None) -> int:
    """Verify and apply one layer blob; a corrupt cached blob is dropped from the cache."""
    try:
        return _apply_blob(apply, layer, advance)
    except IntegrityError as err:
        if not layer.cached:
            raise
        Path(layer.path).unlink(missing_ok=True)
        raise IntegrityError(
            f"{err} (removed from the blob cache: run again to fetch it)"
        ) from None


def _apply_blob(apply: Apply, layer: Layer, advance: Callable[[int], None]) -> int:
    """Verify and apply one layer blob; checks blob digest/size and DiffID."""
    with layer.open() as blob:
        head = blob.read(4)
        source = _Prefixed(head, blob, advance)
        try:
            with uncompressed(source, head) as stream:
                tar = _Hashing(stream)
                entries = apply(tar)
                tar.drain(TRAILING_LIMIT)
            diff_id = "sha256:" + tar.hash.hexdigest()
            blob.finish()
        except (tarfile.TarError, IntegrityError) as err:
            blob.finish()  # a wrong digest or size explains a broken stream best
            if isinstance(err, IntegrityError):
                raise
            raise IntegrityError(f"layer {layer.digest}: not a valid layer tar: {err}") from None
    if diff_id != layer.diff_id:
        raise IntegrityError(
            f"layer {layer.digest}: uncompressed content is {diff_id}, "
            f"but the config's diff_ids say {layer.diff_id}"
        )
    return entries


def image_json(image: Resolved) -> bytes:
    """The config blob exactly as served, with a `metalinit` object spliced in at the end."""
    meta = {
        "reference": image.reference,
        "manifest_digest": image.manifest_digest,
        "platform": image.platform,
    }
    body = image.config.rstrip()
    if not body.endswith(b"}"):
        raise IntegrityError("the image config is not a JSON object")
    inner = body[:-1].rstrip()
    comma = b"" if inner.endswith(b"{") else b","
    return inner + comma + b'"metalinit":' + json.dumps(meta).encode() + b"}\n"


def created_time(config: bytes) -> float:
    """The image's `created` time: our added files carry it, so rebuilds are identical."""
    try:
        text = json.loads(config).get("created", "")
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, TypeError, AttributeError):
        return 0.0


def _add_file(root: str, rel: str, data: bytes, mtime: float, *, replace: bool) -> None:
    try:
        path = secure_join(root, rel, make_parents=True)
    except UnsafeLayerError:
        return  # e.g. /etc is a symlink: leave the image as it is
    if os.path.lexists(path) and not replace:
        return
    if os.path.isdir(path) and not os.path.islink(path):
        remove_tree(path)
    elif os.path.lexists(path):
        os.unlink(path)
    with open(path, "wb") as out:
        out.write(data)
    os.chown(path, 0, 0)
    os.chmod(path, 0o644)
    os.utime(path, (mtime, mtime))


def _apply_all(job: Job, apply: Apply, progress: Progress) -> None:
    count = len(job.image.layers)
    for i, layer in enumerate(job.image.layers):
        advance = progress.task(f"apply layer {i + 1}/{count} {layer.digest[7:19]}", layer.size)
        entries = apply_blob(apply, layer, advance)
        progress.say(f"applied layer {i + 1}/{count}: {entries} entries")


def free_space(directory: Path, wanted: int | None) -> int:
    """Bytes free for us on the filesystem of `directory`; a fixed size must fit in them."""
    st = os.statvfs(directory)
    room = st.f_bavail * st.f_frsize
    if wanted is not None and wanted > room:
        raise RootfsToolsError(
            f"--size {wanted >> 20} MiB: only {room >> 20} MiB free in {directory}; "
            "free space, give a smaller --size or write elsewhere"
        )
    return room


def _warnings(tree: ImageTree) -> list[str]:
    out = []
    if tree.clamped:
        out.append(
            f"{tree.clamped!r} (and maybe others): mtime outside ext4's range "
            "(1901-12-13 to 2446-05-10), clamped to the nearest"
        )
    found = tree.root.children.get("lost+found")
    if found is not None and not found.is_dir:
        out.append("'lost+found' is not a directory in the image: replaced by an empty one")
    return out


def build(job: Job, progress: Progress) -> Usage:
    if job.options.writer == "mkfs":
        return build_with_mkfs(job, progress)
    opts = job.options
    output = Path(job.output)
    room = free_space(output.parent, opts.size)
    raw = output.with_name(f".{output.name}.raw{os.getpid()}")
    offset = GPT_START if opts.partition == "gpt" else 0
    fs_size = None if opts.size is None else opts.size - (GPT_START + GPT_TAIL if offset else 0)
    try:
        fd = os.open(raw, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            writer = Ext4Writer(fd, offset, fs_size, room - offset)
            mtime = created_time(job.image.config)
            tree = ImageTree(writer.store, mtime)
            _apply_all(job, tree.apply, progress)
            tree.add_file(IMAGE_JSON, image_json(job.image), mtime, replace=True)
            for rel in BIND_FILLED:
                tree.add_file(rel, b"", mtime, replace=False)
            for warning in _warnings(tree):
                print(f"img-from-container: warning: {warning}", file=sys.stderr)
            progress.say("writing the ext4 metadata")
            try:
                usage = writer.finish(tree.root, opts.free_percent, opts.label, opts.uuid)
            except FormatError as err:
                raise RootfsToolsError(f"cannot write this image as ext4: {err}") from None
            if offset:
                os.ftruncate(fd, os.fstat(fd).st_size + GPT_TAIL)
                partition_gpt(raw, os.fstat(fd).st_size - offset - GPT_TAIL)
            os.fsync(fd)
        finally:
            os.close(fd)
        finish_output(raw, output, opts)
    finally:
        raw.unlink(missing_ok=True)
    return usage


def build_with_mkfs(job: Job, progress: Progress) -> Usage:
    output = Path(job.output)
    free_space(output.parent, job.options.size)
    os.makedirs(job.work_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".img-from-container.", dir=job.work_dir)
    try:
        os.chmod(staging, 0o755)
        _apply_all(job, lambda stream: apply_layer(staging, stream), progress)
        mtime = created_time(job.image.config)
        _add_file(staging, IMAGE_JSON, image_json(job.image), mtime, replace=True)
        for rel in BIND_FILLED:
            _add_file(staging, rel, b"", mtime, replace=False)
        progress.say("writing the ext4 image")
        return write_image(Path(staging), output, job.options)
    finally:
        with contextlib.suppress(OSError):
            remove_tree(staging)


def dump(job: Job) -> str:
    data = asdict(job)
    data["image"]["config"] = base64.b64encode(job.image.config).decode()
    return json.dumps(data)


def load(text: str) -> Job:
    data = json.loads(text)
    img = data["image"]
    image = Resolved(
        img["reference"],
        img["manifest_digest"],
        img["platform"],
        base64.b64decode(img["config"]),
        tuple(Layer(**layer) for layer in img["layers"]),
    )
    return Job(image, data["output"], Ext4Options(**data["options"]), data["work_dir"])


def on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the `finally` blocks remove temporary files."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def main() -> int:
    """`python -m rootfs_tools.build JOB.json MODE`, run by the CLI inside fakeroot."""
    on_sigterm()
    job = load(Path(sys.argv[1]).read_text())
    try:
        with Progress(Mode(sys.argv[2])) as progress:
            build(job, progress)
    except RootfsToolsError as err:
        print(f"img-from-container: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
