"""Layer streams, uncompressed on the other core while the applier writes the tree.

Compression is told by magic bytes (media types can lie; docker-archive layers carry none):
gzip is inflated by zlib on a thread (zlib lets go of the GIL while it works), zstd by the
`zstd` program. Either way the tar reader gets the read end of a pipe. Several gzip members
and several zstd frames are one stream.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import IO

from rootfs_tools.errors import IntegrityError
from rootfs_tools.layers import Readable

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1 << 20
F_SETPIPE_SZ = 1031  # Linux fcntl


def _inflate(source: Readable, out: IO[bytes]) -> None:
    """At most CHUNK bytes of output at a time: 1 MiB of gzip can inflate to a gigabyte."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    while chunk := source.read(CHUNK):
        while True:
            if inflater.eof:  # the next gzip member
                inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
            data = inflater.decompress(chunk, CHUNK)
            out.write(data)
            chunk = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
            if not chunk and (inflater.eof or len(data) < CHUNK):
                break  # else zlib may still hold output for an empty input
    if not inflater.eof:
        raise IntegrityError("the gzip stream ends before its end marker")


def _copy(source: Readable, out: IO[bytes]) -> None:
    while chunk := source.read(CHUNK):
        out.write(chunk)


def _pump(
    work: Callable[[Readable, IO[bytes]], None],
    source: Readable,
    out: IO[bytes],
    failure: list[BaseException],
) -> threading.Thread:
    def run() -> None:
        try:
            work(source, out)
        except BrokenPipeError:
            pass  # the reader stopped early and will report why
        except zlib.error as err:
            failure.append(IntegrityError(f"cannot decompress the layer: {err}"))
        except BaseException as err:
            failure.append(err)
        finally:
            with contextlib.suppress(BrokenPipeError):
                out.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def uncompressed(source: Readable, head: bytes) -> Iterator[Readable]:
    """The layer's tar stream; errors of the decompressing side are raised on exit."""
    if not head.startswith((GZIP_MAGIC, ZSTD_MAGIC)):
        yield source
        return
    failure: list[BaseException] = []
    proc = None
    if head.startswith(GZIP_MAGIC):
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(write_fd, F_SETPIPE_SZ, CHUNK)
        reader: IO[bytes] = os.fdopen(read_fd, "rb", buffering=CHUNK)
        thread = _pump(_inflate, source, os.fdopen(write_fd, "wb"), failure)
    else:
        proc = subprocess.Popen(
            ["zstd", "-dcq"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdin is not None and proc.stdout is not None
        reader = proc.stdout
        thread = _pump(_copy, source, proc.stdin, failure)
    try:
        yield reader
    finally:
        reader.close()
        thread.join()
        code = proc.wait() if proc else 0
        # The decompressing side's error is the cause of whatever the reader saw.
        if failure:
            raise failure[0]
        if code:
            raise IntegrityError(f"zstd could not decompress the layer (exit {code})")
