"""Paths inside a mounted root, resolved as if that root were `/`.

A filesystem written by someone else holds symlinks meant for the machine it will boot:
`/etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf`, `/bin -> usr/bin`. Followed by
the agent as they stand, an absolute one would lead out of the mount into the agent's own
tree. Here every symlink is followed within the root (an absolute target starts again at
the root, `..` stops at it), as the kernel does for a chrooted process.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from pathlib import Path

from agent.actions import ActionError

MAX_SYMLINKS = 40  # the kernel's limit


def resolve_in_root(root: Path, path: str, *, follow_last: bool = True) -> Path:
    """root/path with symlinks followed inside root; missing parts are kept as named."""
    parts = deque(p for p in path.split("/") if p not in ("", "."))
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.popleft()
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        here = root.joinpath(*resolved, part)
        if not parts and not follow_last:
            resolved.append(part)
            break
        try:
            is_link = stat.S_ISLNK(os.lstat(here).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            is_link = False
        if not is_link:
            resolved.append(part)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise ActionError(f"{path}: more than {MAX_SYMLINKS} symlinks (a loop?)")
        target = os.readlink(here)
        if target.startswith("/"):
            resolved = []
        parts.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
    return root.joinpath(*resolved)
