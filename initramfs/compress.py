"""Compressors the kernel can unpack an initramfs with, run deterministically.

zstd -19, single-threaded: measured on a 49 MB image here, -3 gives 19.3 MB in 0.3 s,
-10 17.9 MB in 1.6 s, -15 17.8 MB in 7.7 s, -19 16.4 MB in 27 s, --ultra -22 15.9 MB in
40 s. -19 is the last big step (8% under -10); -22 needs a 128 MB window, more than we
want to ask of the kernel's decompressor, and decompression speed barely depends on the
level. gzip -n drops name and time. xz uses CRC32 because the kernel's decoder knows no
other check (xz -9: 14.9 MB in 38 s, smallest and slowest to unpack)."""

from __future__ import annotations

import gzip
import lzma
import subprocess
from pathlib import Path

from initramfs.errors import BuildError

COMMANDS = {
    "zst": (["zstd", "-19", "-q", "-c", "-T1"], ["zstd", "-d", "-q", "-c"]),
    "gz": (["gzip", "-n", "-9", "-c"], ["gzip", "-d", "-c"]),
    "xz": (["xz", "--check=crc32", "-9", "-T1", "-c"], ["xz", "-d", "-c"]),
}


def compress(kind: str, source: Path, target: Path) -> None:
    if kind not in COMMANDS:
        raise BuildError(f"unknown compression {kind!r}: use one of {', '.join(COMMANDS)}")
    with source.open("rb") as src, target.open("wb") as out:
        result = subprocess.run(COMMANDS[kind][0], stdin=src, stdout=out, stderr=subprocess.PIPE)
    if result.returncode != 0:
        raise BuildError(f"{COMMANDS[kind][0][0]} failed: {result.stderr.decode().strip()}")


def decompress(kind: str, source: Path) -> bytes:
    """The archive back, to verify what was written."""
    if kind == "gz":
        return gzip.decompress(source.read_bytes())
    if kind == "xz":
        return lzma.decompress(source.read_bytes())
    result = subprocess.run([*COMMANDS[kind][1], str(source)], capture_output=True)
    if result.returncode != 0:
        raise BuildError(f"cannot decompress {source}: {result.stderr.decode().strip()}")
    return result.stdout
