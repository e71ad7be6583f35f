"""The decompressors of image2disk and archive2disk, and how one is chosen.

Chosen by magic bytes first (a name can lie), then by the URL's extension as the hub
action does (`.gz`, `.bz2`/`.bzip2`, `.xz`, `.zs`/`.zst`). Each decoder takes the stream in
pieces and gives its output in pieces of at most OUT_CHUNK, however well the input
compresses, so memory stays bounded; `end()` raises if the stream stopped early.
Consecutive gzip members, xz streams, bzip2 streams and zstd frames are one stream, as the
command-line tools treat them. zlib, lzma, bz2 and libzstd all let go of the GIL while they
work, so the other stages of the pipeline run meanwhile.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from agent.actions import ActionError

OUT_CHUNK = 4 << 20
MAGIC = {
    "gzip": b"\x1f\x8b",
    "xz": b"\xfd7zXZ\x00",
    "zstd": b"\x28\xb5\x2f\xfd",
    "bzip2": b"BZh",
}
EXTENSIONS = {".gz": "gzip", ".bz2": "bzip2", ".bzip2": "bzip2", ".xz": "xz",
              ".zs": "zstd", ".zst": "zstd"}  # fmt: skip
DEFLATE_MAX_RATIO = 1032
HEAD_SIZE = 18  # enough for every magic and for a zstd frame header


class DecodeError(ActionError):
    pass


class Decoder(Protocol):
    kind: str

    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def end(self) -> None: ...


def by_magic(head: bytes) -> str:
    return next((kind for kind, magic in MAGIC.items() if head.startswith(magic)), "")


def by_extension(url_path: str) -> str:
    name = url_path.rpartition("/")[2].lower()
    return next((kind for ext, kind in EXTENSIONS.items() if name.endswith(ext)), "")


def choose(head: bytes, url_path: str, compressed: bool) -> tuple[str, str]:
    """(kind, note): "raw" or a compression, and a line to print when the magic bytes and
    what COMPRESSED or the name says disagree."""
    magic, named = by_magic(head), by_extension(url_path)
    if magic and not compressed:
        return magic, f"the image is {magic}-compressed (magic bytes): decompressing it"
    if magic:
        note = (
            f"the name says {named} but the magic bytes say {magic}"
            if named and named != magic
            else ""
        )
        return magic, note
    if compressed:
        if named:
            raise DecodeError(
                f"COMPRESSED is true and the name says {named}, "
                f"but the data does not start as {named} data does"
            )
        raise DecodeError(
            "COMPRESSED is true but the image is neither gzip, xz, zstd nor bzip2 "
            "(by its magic bytes or its name)"
        )
    return "raw", ""


class Raw:
    kind = "raw"

    def feed(self, data: bytes) -> Iterator[bytes]:
        yield data

    def end(self) -> None:
        pass


class _Members:
    """A zlib, lzma or bz2 decompressor, made anew for each member; zeros after the last
    member (tape padding) are allowed, anything else there is an error."""

    def __init__(self, kind: str, make: Callable[[], Any], error: type[Exception]) -> None:
        self.kind, self._make, self._error = kind, make, error
        self._d = make()
        self._fed = self._padding = self._pending = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            while data or self._pending:
                if self._padding:
                    if data.strip(b"\0"):
                        raise DecodeError(f"data follows the end of the {self.kind} stream")
                    return
                if self._d.eof:  # a member ended: another follows, or padding
                    if not data.startswith(MAGIC[self.kind][: len(data)]):
                        self._padding = True
                        continue
                    self._d = self._make()
                self._fed = True
                out, data, self._pending = self._step(data)
                if out:
                    yield out
                if self._d.eof:
                    data, self._pending = self._d.unused_data, False
        except self._error as e:
            raise DecodeError(f"the {self.kind} data is damaged: {e}") from None

    def _step(self, data: bytes) -> tuple[bytes, bytes, bool]:
        """(output, input still to give, whether to call again before new input)."""
        out = self._d.decompress(data, OUT_CHUNK)
        rest = self._d.unconsumed_tail  # zlib hands back what it did not read
        return out, rest, bool(rest) or len(out) == OUT_CHUNK

    def end(self) -> None:
        if not self._fed or not (self._d.eof or self._padding):
            raise DecodeError(f"the {self.kind} stream ends before its end marker (truncated)")


class _Buffered(_Members):
    """lzma and bz2 keep unread input themselves: call again with b"" until needs_input."""

    def _step(self, data: bytes) -> tuple[bytes, bytes, bool]:
        out = self._d.decompress(data, OUT_CHUNK)
        return out, b"", not self._d.needs_input


class Zstd:
    kind = "zstd"

    def __init__(self) -> None:
        from agent.actions.zstd import ZstdDecompressor, ZstdError

        self._error = ZstdError
        self._d = ZstdDecompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            yield from self._d.feed(data)
        except self._error as e:
            raise DecodeError(f"the zstd data is damaged: {e}") from None

    def end(self) -> None:
        complete = self._d.complete
        self._d.close()
        if not complete:
            raise DecodeError("the zstd stream ends inside a frame (truncated)")


def decoder(kind: str) -> Decoder:
    match kind:
        case "raw":
            return Raw()
        case "gzip":
            return _Members("gzip", lambda: zlib.decompressobj(zlib.MAX_WBITS | 16), zlib.error)
        case "xz":
            import lzma

            return _Buffered("xz", lzma.LZMADecompressor, lzma.LZMAError)
        case "bzip2":
            import bz2

            return _Buffered("bzip2", bz2.BZ2Decompressor, OSError)
        case "zstd":
            from agent.actions.zstd import ZstdError

            try:
                return Zstd()
            except ZstdError as e:
                raise DecodeError(str(e)) from None
        case _:
            raise DecodeError(f"unknown compression {kind!r}")


def zstd_content_size(head: bytes) -> int | None:
    """The decompressed size a zstd frame header declares, if it declares one."""
    if not head.startswith(MAGIC["zstd"]) or len(head) < 5:
        return None
    descriptor = head[4]
    fcs_flag, single_segment, dict_flag = descriptor >> 6, (descriptor >> 5) & 1, descriptor & 3
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    if not fcs_size:
        return None
    at = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[dict_flag]
    if len(head) < at + fcs_size:
        return None
    size = int.from_bytes(head[at : at + fcs_size], "little")
    return size + 256 if fcs_size == 2 else size


def gzip_size_floor(trailer: bytes, compressed_size: int | None) -> int | None:
    """The last gzip member's ISIZE: its size modulo 4 GiB, so a lower bound of the whole;
    None where it cannot be one (deflate never compresses more than 1032:1, so a larger
    figure is the tail of a truncated or damaged file, not a size)."""
    size = int.from_bytes(trailer[-4:], "little")
    if compressed_size is not None and size > compressed_size * DEFLATE_MAX_RATIO:
        return None
    return size
