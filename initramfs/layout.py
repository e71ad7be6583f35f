"""The fixed part of the image, as data: directories, small files, device nodes, the
/init link, and busybox with its applet links.

The device nodes are in the archive itself, so PID 1 has /dev/console, /dev/null and
/dev/urandom before anything is mounted (see FACTS: a frozen Python needs random bytes
for its hash seed; the seed is also fixed at freeze time, so either way out works).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from initramfs import cpio
from initramfs.errors import BuildError

AGENT_DIR = "opt/metalinit"  # the PyInstaller onedir
INIT_TARGET = f"{AGENT_DIR}/metalinit"  # /init is a symlink to it: no shell in between
BUSYBOX_HOST = Path("/bin/busybox")  # Debian's busybox-static
BUSYBOX = "bin/busybox"
DIRS = {
    "bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
    "etc": 0o755, "dev": 0o755, "proc": 0o555, "sys": 0o555, "run": 0o755,
    "tmp": 0o1777, "mnt": 0o755, "root": 0o700, "usr/share": 0o755,
    "usr/share/wireshark": 0o755,
}  # fmt: skip
FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
    "etc/group": "root:x:0:\n",
    "etc/resolv.conf": "",
    # Present and empty, so scapy does not parse its bundled 0.9 MB vendor table at import
    # (slow under emulation); the agent never needs vendor names for MAC addresses.
    "usr/share/wireshark/manuf": "",
}
# Libraries the agent opens by name with ctypes at run time: no DT_NEEDED names them, so the
# ELF walk cannot find them. soname -> the Debian package that has it.
CTYPES_LIBRARIES = (("libzstd.so.1", "libzstd1"),)  # agent/actions/zstd.py
DEVICES = (  # name, major, minor, permissions
    ("dev/console", 5, 1, 0o600),
    ("dev/null", 1, 3, 0o666),
    ("dev/urandom", 1, 9, 0o666),
)


def fixed_entries() -> list[cpio.Entry]:
    """Entries that are the same in every image; they win over scanned ones."""
    entries = [cpio.Entry(name, stat.S_IFDIR | mode) for name, mode in DIRS.items()]
    entries += [
        cpio.Entry(name, stat.S_IFREG | 0o644, text.encode()) for name, text in FILES.items()
    ]
    entries += [
        cpio.char_device(name, major, minor, perms) for name, major, minor, perms in DEVICES
    ]
    entries.append(cpio.symlink("init", INIT_TARGET))
    # The same program as a command for the rescue shell: `metalinit disks`, `metalinit dhcp`.
    entries.append(cpio.symlink("usr/bin/metalinit", f"/{INIT_TARGET}"))
    return entries


def merge(scanned: list[cpio.Entry], fixed: list[cpio.Entry]) -> list[cpio.Entry]:
    by_name = {e.name: e for e in scanned}
    for entry in fixed:
        old = by_name.get(entry.name)
        if old is not None and stat.S_IFMT(old.mode) != stat.S_IFMT(entry.mode):
            raise BuildError(f"/{entry.name} is both staged and a fixed entry of another type")
        by_name[entry.name] = entry
    return sorted(by_name.values(), key=lambda e: e.name)


def add_busybox(stage: Path, busybox: Path = BUSYBOX_HOST) -> None:
    if not busybox.is_file():
        raise BuildError(f"{busybox} is missing: install Debian's busybox-static")
    target = stage / BUSYBOX
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(busybox, target)
    target.chmod(0o755)


def add_busybox_links(stage: Path) -> list[str]:
    """Link the applets of the staged busybox, last: a file already staged is kept."""
    busybox = stage / BUSYBOX
    listing = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True)
    if listing.returncode != 0 or not listing.stdout.strip():
        raise BuildError(f"`{busybox} --list-full` failed: {listing.stderr.strip()}")
    made = []
    for applet in sorted(set(listing.stdout.split())):
        link = stage / applet
        if applet == BUSYBOX or os.path.lexists(link):
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(f"/{BUSYBOX}", link)
        made.append(applet)
    return made
