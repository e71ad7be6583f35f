"""Read a file of a root filesystem as a process chrooted into it would see it.

An image's /etc/passwd may be a symlink, even an absolute one (`/etc/passwd ->
/usr/lib/passwd`); followed from outside, it would name the initramfs's own file. Each
symlink is resolved against the root, never above it, as Docker's scoped path lookup does.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

MAX_SYMLINKS = 40  # the kernel's limit for one lookup


def resolve_in_root(root: str, path: str) -> str:
    """The host path of `path` inside `root`; raises OSError (ELOOP) on a symlink loop."""
    pending = [p for p in path.split("/") if p]
    done: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        here = os.path.join(root, *done, part)
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            done.append(part)
            continue
        if not stat.S_ISLNK(st.st_mode):
            done.append(part)
            continue
        hops += 1
        if hops > MAX_SYMLINKS:
            raise OSError(errno.ELOOP, f"too many levels of symbolic links in {path}")
        target = os.readlink(here)
        if target.startswith("/"):
            done = []
        pending = [p for p in target.split("/") if p] + pending
    return posixpath.join(root, *done)


def read_in_root(root: str, path: str) -> str | None:
    """The file's text, or None when it cannot be opened (runc reads that as no file)."""
    try:
        with open(resolve_in_root(root, path), errors="replace") as f:
            return f.read()
    except OSError:
        return None
