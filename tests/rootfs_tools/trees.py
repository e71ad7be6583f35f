"""A directory tree as comparable data: what conformance means, entry by entry."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Made by img-from-container or mkfs.ext4, not by the image.
OURS = frozenset({".metalinit", ".metalinit/image.json", "lost+found"})
BIND_FILLED = frozenset({"etc/resolv.conf", "etc/hosts", "etc/hostname"})


def describe(path: str) -> tuple[object, ...]:
    st = os.lstat(path)
    kind = stat.S_IFMT(st.st_mode)
    extra: object = None
    if stat.S_ISREG(st.st_mode):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        extra = (st.st_size, digest.hexdigest(), st.st_nlink)
    elif stat.S_ISLNK(st.st_mode):
        extra = os.readlink(path)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        extra = (os.major(st.st_rdev), os.minor(st.st_rdev))
    xattrs = tuple(
        sorted(
            (name, os.getxattr(path, name, follow_symlinks=False))
            for name in os.listxattr(path, follow_symlinks=False)
        )
    )
    mtime = None if stat.S_ISDIR(st.st_mode) else int(st.st_mtime)
    return (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, extra, xattrs, mtime)


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(top, name)
            out[os.path.relpath(full, root)] = describe(full)
    return out


def image_only(
    entries: dict[str, tuple[object, ...]], reference: dict[str, object]
) -> dict[str, tuple[object, ...]]:
    """Drop what we add on purpose (and bind-fill files the image did not have)."""
    return {
        k: v
        for k, v in entries.items()
        if k not in OURS and not (k in BIND_FILLED and k not in reference)
    }


@contextlib.contextmanager
def mounted(image: Path, offset: int = 0) -> Iterator[Path]:
    """The ext4 image loop-mounted read-only (tests run as root)."""
    with tempfile.TemporaryDirectory(prefix="ext4-") as mnt:
        opts = "ro,loop,noload" + (f",offset={offset}" if offset else "")
        subprocess.run(["mount", "-t", "ext4", "-o", opts, str(image), mnt], check=True)
        try:
            yield Path(mnt)
        finally:
            subprocess.run(["umount", mnt], check=True)


@contextlib.contextmanager
def umoci_unpacked(layout: Path, tag: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="umoci-") as work:
        bundle = Path(work, "bundle")
        subprocess.run(
            ["umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle)],
            check=True,
            capture_output=True,
        )
        yield bundle / "rootfs"


def ext4_tree(image: Path) -> dict[str, tuple[object, ...]]:
    with mounted(image) as root:
        return tree(root)


def assert_fsck_clean(image: Path, offset: int = 0) -> None:
    """`e2fsck -fn` finds nothing to fix (exit 0) in the filesystem at `offset`."""
    target = f"{image}?offset={offset}" if offset else str(image)
    done = subprocess.run(["e2fsck", "-fn", target], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
