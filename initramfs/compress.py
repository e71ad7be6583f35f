"""Compressors the kernel can unpack an initramfs with, run deterministically.

zstd -19: the archive is mostly ELF code and Python bytecode; on a 40 MB tree -19 is
about 12% smaller than -10 for a few seconds more, the kernel decompresses any level at
the same speed, and no --long (the kernel's window is limited). gzip -n drops name and
time. xz uses CRC32 because the kernel's decoder knows no other check.
"""

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
