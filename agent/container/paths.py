"""A path inside a container's tree, resolved as the container would see it.

The tree is untrusted: `/var/run` may be a symlink to `../run`, or to `/../../etc` of the
host. `scoped_join` follows symlinks the way the kernel would after the root switch, so
an absolute target or a `..` stops at the tree's root and the result never leaves it (the
rule filepath-securejoin and runc follow). Missing parts are kept as written, so the
caller can create them. Only safe while nothing else changes the tree, as here: the
container has not started yet.
"""

from __future__ import annotations

import os
import stat
from collections import deque

from agent.container import ContainerError

MAX_SYMLINKS = 40  # as the kernel's path walk


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def scoped_join(root: str, unsafe_path: str) -> str:
    todo = deque(_parts(unsafe_path))
    done: list[str] = []
    links = 0
    while todo:
        part = todo.popleft()
        if part == "..":
            if done:
                done.pop()
            continue
        here = os.path.join(root, *done, part)
        try:
            mode = os.lstat(here).st_mode
        except (FileNotFoundError, NotADirectoryError):
            done.append(part)
            continue
        if not stat.S_ISLNK(mode):
            done.append(part)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise ContainerError(f"{unsafe_path!r} in the image: too many levels of symlinks")
        target = os.readlink(here)
        if target.startswith("/"):
            done = []
        todo.extendleft(reversed(_parts(target)))
    return os.path.join(root, *done)
