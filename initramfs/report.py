"""`metalinit build --report`: what takes the space, by part, so regressions show.

Each row is a part of the image (by path) with its uncompressed bytes and an estimate of
its compressed bytes (the part alone through zstd -19; parts compress a little better
together, so the rows sum to slightly more than the real total). The agent's bytecode is
then broken down by top-level package.
"""

from __future__ import annotations

import stat
import subprocess
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from initramfs import layout
from initramfs.cpio import Entry
from initramfs.freeze import CONTENTS, NAME

if TYPE_CHECKING:
    from initramfs.build import Archive

AGENT = f"{layout.AGENT_DIR}/"
INTERNAL = f"{AGENT}{CONTENTS}/"
RULES: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("agent: PyInstaller bootloader", lambda n: n == f"{AGENT}{NAME}"),
    ("agent: Python bytecode (.pyc; by package below)",
     lambda n: n.startswith(INTERNAL) and n.endswith(".pyc")),
    ("agent: interpreter (libpython) + stdlib extension modules",
     lambda n: n.startswith((f"{INTERNAL}libpython", f"{INTERNAL}python3"))),
    ("agent: bundled libraries (libcrypto, libssl, liblzma, ...)",
     lambda n: n.startswith(f"{INTERNAL}lib") and "/" not in n[len(INTERNAL):]),
    ("agent: other files (package extensions, data)", lambda n: n.startswith(INTERNAL)),
    ("shared libraries + loader (glibc)", lambda n: n.startswith(("lib/x86_64", "lib64/"))),
    ("kernel modules (.ko)", lambda n: n.startswith("lib/modules/") and n.endswith(".ko")),
    ("kernel module index (modules.*)", lambda n: n.startswith("lib/modules/")),
    ("firmware (lib/firmware)", lambda n: n.startswith("lib/firmware/")),
    ("busybox", lambda n: n == layout.BUSYBOX),
)  # fmt: skip
OTHER = "other (/etc, links, device nodes, dirs)"


def category(name: str) -> str:
    return next((label for label, rule in RULES if rule(name)), OTHER)


def table(entries: list[Entry], archive: str, raw_total: int, packed_total: int) -> str:
    """The report; call it while the staged files still exist."""
    parts: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        regular = stat.S_ISREG(entry.mode)
        parts[category(entry.name) if regular else OTHER].append(entry)
    rows = []
    for label in [r[0] for r in RULES if r[0] in parts] + [OTHER]:
        data = b"".join(e.payload() for e in parts.get(label, []))
        packed = _zstd_size(data) if data else 0
        rows.append((label, len(parts.get(label, [])), len(data), packed))
    lines = [f"{'part':68} {'files':>6} {'bytes':>11} {'~zstd':>11}"]
    lines += [f"{label:68} {n:6} {raw:11,} {packed:11,}" for label, n, raw, packed in rows]
    lines.append(f"{'total: archive / ' + archive:68} {len(entries):6} "
                 f"{raw_total:11,} {packed_total:11,}")  # fmt: skip
    if not any(category(e.name) == RULES[1][0] for e in entries):
        return "\n".join(lines)
    lines += ["", "agent bytecode by top-level package (uncompressed):"]
    lines += [f"  {pkg:30} {size:11,}" for pkg, size in bytecode_packages(entries)[:12]]
    return "\n".join(lines)


def tables(archives: list[Archive]) -> str:
    """One table per archive, the core first."""
    return "\n\n".join(
        table(a.entries, a.path.name, a.uncompressed, a.compressed) for a in archives
    )


def _zstd_size(data: bytes) -> int:
    done = subprocess.run(["zstd", "-19", "-q", "-c", "-T1"], input=data, capture_output=True)
    return len(done.stdout) if done.returncode == 0 else 0


def bytecode_packages(entries: list[Entry]) -> list[tuple[str, int]]:
    """Bytes of .pyc per top-level package (a module outside packages counts as itself)."""
    sizes: dict[str, int] = defaultdict(int)
    for entry in entries:
        if entry.name.startswith(INTERNAL) and entry.name.endswith(".pyc"):
            top = entry.name[len(INTERNAL) :].split("/")[0].removesuffix(".pyc")
            sizes[top] += len(entry.payload())
    return sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))
