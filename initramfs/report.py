"""`metalinit build --report`: what takes the space, by part, so regressions show.

Each row is a part of the image (by path) with its uncompressed bytes and an estimate of
its compressed bytes (the part alone through zstd -19; parts compress a little better
together, so the rows sum to slightly more than the real total). The agent's PYZ archive
(inside the bootloader) is broken down by top-level Python package from its table of
contents, as stored (zlib-compressed).
"""

from __future__ import annotations

import subprocess
from collections import defaultdict
from collections.abc import Callable

from initramfs import layout
from initramfs.cpio import Entry
from initramfs.freeze import CONTENTS, NAME

AGENT = f"{layout.AGENT_DIR}/"
INTERNAL = f"{AGENT}{CONTENTS}/"
PYTHON_RUNTIME = ("libpython", "base_library.zip", "python3")
RULES: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("agent: bootloader + PYZ (all Python code)", lambda n: n == f"{AGENT}{NAME}"),
    ("agent: interpreter + stdlib (libpython, base_library, lib-dynload)",
     lambda n: n.startswith(INTERNAL) and n[len(INTERNAL):].startswith(PYTHON_RUNTIME)),
    ("agent: bundled libraries (libcrypto, libffi, ...)",
     lambda n: n.startswith(INTERNAL) and "/" not in n[len(INTERNAL):]),
    ("agent: package data", lambda n: n.startswith(INTERNAL)),
    ("shared libraries + loader (glibc)", lambda n: n.startswith(("lib/x86_64", "lib64/"))),
    ("kernel modules (.ko)", lambda n: n.startswith("lib/modules/") and n.endswith(".ko")),
    ("kernel module index (modules.*)", lambda n: n.startswith("lib/modules/")),
    ("busybox", lambda n: n == layout.BUSYBOX),
)  # fmt: skip
OTHER = "other (/etc, links, device nodes, dirs)"


def category(name: str) -> str:
    return next((label for label, rule in RULES if rule(name)), OTHER)


def table(entries: list[Entry], archive: str, raw_total: int, packed_total: int) -> str:
    """The report; call it while the staged files still exist."""
    parts: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        parts[category(entry.name)].append(entry)
    rows = []
    for label in [r[0] for r in RULES] + [OTHER]:
        data = b"".join(e.payload() for e in parts.get(label, []))
        packed = _zstd_size(data) if data else 0
        rows.append((label, len(parts.get(label, [])), len(data), packed))
    lines = [f"{'part':68} {'files':>6} {'bytes':>11} {'~zstd':>11}"]
    lines += [f"{label:68} {n:6} {raw:11,} {packed:11,}" for label, n, raw, packed in rows]
    lines.append(f"{'total: archive / ' + archive:68} {len(entries):6} "
                 f"{raw_total:11,} {packed_total:11,}")  # fmt: skip
    lines += ["", "agent PYZ by package (zlib as stored):"]
    lines += [f"  {pkg:30} {size:11,}" for pkg, size in pyz_packages(entries)[:12]]
    return "\n".join(lines)


def _zstd_size(data: bytes) -> int:
    done = subprocess.run(["zstd", "-19", "-q", "-c", "-T1"], input=data, capture_output=True)
    return len(done.stdout) if done.returncode == 0 else 0


def pyz_packages(entries: list[Entry]) -> list[tuple[str, int]]:
    """Sizes per top-level package in the bootloader's PYZ, largest first."""
    exe = next((e.source for e in entries if e.name == f"{AGENT}{NAME}"), None)
    if exe is None:
        return []
    try:
        from PyInstaller.archive.readers import CArchiveReader  # type: ignore[import-untyped]
    except ImportError:
        return []
    sizes: dict[str, int] = defaultdict(int)
    carchive = CArchiveReader(str(exe))
    for name, entry in carchive.toc.items():
        if entry[4] == "z":  # the PYZ
            for module, row in carchive.open_embedded_archive(name).toc.items():
                sizes[module.split(".")[0]] += int(row[2])
    return sorted(sizes.items(), key=lambda kv: -kv[1])
