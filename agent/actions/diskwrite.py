"""A disk image, streamed onto a disk: the core of image2disk (and of oci2disk for disk
images kept in a registry).

In one pass: the bytes as served are hashed (the checksum is of the file, as `sha256sum`
prints it), decompressed and written. Before the first write the image is refused if it
cannot fit: by Content-Length for a raw image, by the size a zstd frame header declares,
by a gzip trailer's size (a lower bound). While writing, nothing is written past the end of
the disk. At the end: fsync, and the kernel is made to see the new partitions
(`agent.blockdev.rescan`).

When anything fails after the first write (a wrong checksum, a truncated or damaged stream,
a dropped connection that could not be resumed, a disk too small) the first and last MiB
of the disk are zeroed, so that neither the firmware nor a later action takes the partial
image for a good one, and the action fails saying so. A wrong checksum is never success.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from dataclasses import dataclass

from agent.actions import ActionContext, ActionError, decoders, pipeline
from agent.actions.checksum import Expected
from agent.actions.stream import Download
from agent.actions.target import Sequential, Target

MIB = 1 << 20


@dataclass(frozen=True)
class Written:
    image_bytes: int  # what was written to the disk
    served_bytes: int  # what was read from the server
    kind: str  # raw, gzip, xz, zstd, bzip2
    digest: str  # "sha256:…" when a checksum was asked for, else ""
    partitions: tuple[str, ...]
    seconds: float


def size_text(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError


class _Progress:
    """Prints a line every `interval` seconds and reports to the worker at most 4 times
    a second: one call per MiB written would cost more than the write."""

    def __init__(self, ctx: ActionContext, download: Download, total: int | None,
                 interval: float) -> None:  # fmt: skip
        self.ctx, self.download, self.total, self.interval = ctx, download, total, interval
        self.start = self.last_line = self.last_report = time.monotonic()

    def __call__(self, written: int, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self.last_report >= 0.25:
            self.ctx.progress(written, self.total)
            self.last_report = now
        if final or now - self.last_line >= self.interval:
            self.last_line = now
            of = f" of {size_text(self.total)}" if self.total else ""
            served = self.download.total
            read = size_text(self.download.done) + (f" of {size_text(served)}" if served else "")
            rate = written / max(now - self.start, 1e-6)
            self.ctx.say(f"wrote {size_text(written)}{of} (read {read}), {size_text(rate)}/s")


def _declared_size(kind: str, head: bytes, download: Download) -> int | None:
    """The image's size as the format declares it: exact, or (gzip) a lower bound."""
    match kind:
        case "raw":
            return download.total
        case "zstd":
            return decoders.zstd_content_size(head)
        case "gzip":
            trailer = download.tail(4)
            return decoders.gzip_size_floor(trailer, download.total) if trailer else None
    return None


def write_image(
    ctx: ActionContext,
    download: Download,
    target: Target,
    *,
    name_path: str,
    compressed: bool,
    expected: Expected | None,
    interval: float = 3.0,
) -> Written:
    """Stream `download` onto `target`; `name_path` is the URL's path (its extension is
    the hub's way of naming the compression)."""
    started = time.monotonic()
    hasher = hashlib.new(expected.algorithm if expected else "sha256")
    download.open()
    chunks = download.chunks(hasher if expected else _NoHash())
    first = next(chunks, b"")
    if not first:
        raise ActionError(f"{download.what} is empty")
    kind, note = decoders.choose(first[: decoders.HEAD_SIZE], name_path, compressed)
    if note:
        ctx.say(note)
    declared = _declared_size(kind, first, download)
    if declared is not None and target.size is not None and declared > target.size:
        says = {"raw": "Content-Length", "zstd": "its zstd frame header"}.get(kind, "")
        says = says or "its gzip trailer (or the file is damaged)"
        raise ActionError(
            f"the image is {'at least ' if kind == 'gzip' else ''}{declared} bytes "
            f"({size_text(declared)}, by {says}) but {target.path} has {target.size} "
            f"({size_text(target.size)}): nothing was written; use a larger disk or a smaller image"
        )
    decoder = decoders.decoder(kind)
    total = declared if kind in ("raw", "zstd") else None
    progress = _Progress(ctx, download, total, interval)
    sequential = Sequential(target)
    written = 0

    def write(piece: bytes) -> None:
        nonlocal written
        if ctx.cancelled.is_set():
            raise ActionError("cancelled")
        if target.size is not None and written + len(piece) > target.size:
            raise ActionError(
                f"the image is larger than {target.path} ({target.size} bytes, "
                f"{size_text(target.size)}): it does not fit"
            )
        sequential.write(piece)
        written += len(piece)
        progress(written)

    ctx.say(f"writing {download.what} ({kind}) to {target.path}")
    try:
        pipeline.run(itertools.chain([first], chunks), decoder, write)
        sequential.finish()
        digest = _verify(hasher, expected, download.what) if expected else ""
        os.fsync(target.fd)
    except Exception as e:
        download.close()
        if written == 0 and not isinstance(e, _ChecksumMismatch):
            raise
        raise ActionError(f"{e}; {target.path} holds a partial image: {target.wipe()}") from e
    progress(written, final=True)
    partitions: tuple[str, ...] = ()
    if target.is_block:
        partitions = rescan_partitions(ctx, target)
    return Written(written, download.done, kind, digest, partitions, time.monotonic() - started)


class _NoHash:
    def update(self, data: bytes, /) -> None:
        pass


class _ChecksumMismatch(ActionError):
    pass


def _verify(hasher: hashlib._Hash, expected: Expected, what: str) -> str:
    actual = hasher.hexdigest()
    if actual != expected.hexdigest:
        raise _ChecksumMismatch(
            f"checksum mismatch: {what} as served has {expected.algorithm} {actual}, but "
            f"CHECKSUM says {expected.hexdigest}: the image is not the one expected "
            "(check the file on the server and CHECKSUM)"
        )
    return f"{expected.algorithm}:{actual}"


def rescan_partitions(ctx: ActionContext, target: Target) -> tuple[str, ...]:
    """Make the kernel list the partitions now on a whole disk; their nodes."""
    from agent.blockdev import BlockDevError
    from agent.blockdev.rescan import is_whole_disk, rescan
    from agent.syscalls import SyscallError

    if not is_whole_disk(target.path):
        return ()
    try:
        return tuple(rescan(target.path, target.fd, ctx.sys, ctx.say))
    except (BlockDevError, SyscallError) as e:
        raise ActionError(
            f"the image was written and verified, but its partitions could not be made "
            f"known to the kernel: {e}"
        ) from None


def report(ctx: ActionContext, written: Written, target: Target) -> None:
    rate = written.image_bytes / max(written.seconds, 1e-6)
    ctx.say(
        f"wrote {written.image_bytes} bytes ({size_text(written.image_bytes)}, {written.kind}, "
        f"{written.served_bytes} bytes served) to {target.path} in {written.seconds:.1f} s, "
        f"{size_text(rate)}/s"
    )
    ctx.say(f"checksum verified: {written.digest}" if written.digest else
            "no CHECKSUM given: the image was not verified")  # fmt: skip
    if written.partitions:
        ctx.say(f"partitions: {' '.join(written.partitions)}")
