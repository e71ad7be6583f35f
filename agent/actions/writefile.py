"""`writefile`: write one file into the filesystem on a disk.

The hub action's variables: DEST_DISK (the partition), FS_TYPE, DEST_PATH (absolute),
CONTENTS, UID, GID, MODE, DIRMODE (octal strings as written in YAML: "0600"). Missing
directories are made with DIRMODE and owned by UID:GID; existing ones are left as they
are, as the hub does. Differences: MODE and DIRMODE are applied exactly (the hub's are cut
by the umask, and an existing file kept its old mode); the file is written under a
temporary name, fsynced and renamed into place, so a crash never leaves half a file;
symlinks on the target are followed inside its root, never out of it; FS_TYPE may be
empty (the superblock names it); UID and GID default to 0, MODE to 0644, DIRMODE to 0755.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from agent.actions import ActionContext, ActionError, Then
from agent.actions.envvars import integer, octal, required, text
from agent.actions.inroot import resolve_in_root
from agent.actions.mounting import mounted


def ensure_dirs(
    root: Path, parts: list[str], mode: int, uid: int, gid: int
) -> tuple[Path, list[str]]:
    """Walk `parts` below root (symlinks followed inside root), making what is missing;
    returns the directory and the names made."""
    made: list[str] = []
    here = root
    for part in parts:
        here = resolve_in_root(root, str((here / part).relative_to(root)))
        # A symlink may point at a place whose parents are missing too: make them all.
        missing = [d for d in [here, *here.parents] if d.is_relative_to(root) and d != root]
        for directory in reversed(missing):
            try:
                st = os.lstat(directory)
            except FileNotFoundError:
                os.mkdir(directory, 0o700)
                os.chown(directory, uid, gid)
                os.chmod(directory, mode)  # after chown (which clears set-id bits); no umask
                made.append("/" + str(directory.relative_to(root)))
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise ActionError(f"/{directory.relative_to(root)} exists and is not a directory")
    return here, made


def write_file(path: Path, data: bytes, mode: int, uid: int, gid: int) -> None:
    """Replace `path` atomically with a file holding `data`."""
    temporary = path.with_name(f".{path.name}.writefile-{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchown(out.fileno(), uid, gid)
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.rename(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def run(ctx: ActionContext) -> Then | None:
    env = ctx.env
    device = required(env, "DEST_DISK", "the partition holding the filesystem, e.g. /dev/sda1")
    dest = required(env, "DEST_PATH", "the file to write, an absolute path such as /etc/motd")
    if not dest.startswith("/") or dest.endswith("/"):
        raise ActionError(f"DEST_PATH={dest!r}: expected an absolute path to a file")
    contents = env.get("CONTENTS", "").encode()
    uid, gid = integer(env, "UID", 0), integer(env, "GID", 0)
    mode, dir_mode = octal(env, "MODE", 0o644), octal(env, "DIRMODE", 0o755)
    parts = [p for p in dest.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ActionError(f"DEST_PATH={dest!r}: '..' is not allowed")
    with mounted(ctx, device, text(env, "FS_TYPE"), "DEST_DISK") as root:
        directory, made = ensure_dirs(root, parts[:-1], dir_mode, uid, gid)
        for name in made:
            ctx.say(f"made directory {name} (mode {dir_mode:04o}, owner {uid}:{gid})")
        path = resolve_in_root(root, str((directory / parts[-1]).relative_to(root)))
        if path.is_dir() and not path.is_symlink():
            raise ActionError(f"DEST_PATH={dest}: is a directory on {device}")
        write_file(path, contents, mode, uid, gid)
        ctx.say(
            f"wrote {dest} ({len(contents)} bytes, mode {mode:04o}, owner {uid}:{gid}) on {device}"
        )
    return None
