"""Mounting the filesystem an action works on, so that no mount outlives the action.

`mounted()` first moves the action into a mount namespace of its own (unshare, then every
mount private), so even an action killed on its timeout leaves nothing mounted on the
machine: the namespace dies with the process. Within it, each mount is undone on the way
out all the same (lazily, if something still holds it, and said so).

FS_TYPE may be left empty: the agent's own superblock probe names the filesystem then.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.actions import ActionContext, ActionError
from agent.syscalls import (
    CLONE_NEWNS,
    MNT_DETACH,
    MS_BIND,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    SyscallError,
)

FSTYPES = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "iso9660", "squashfs"})


def private_mounts(ctx: ActionContext) -> None:
    try:
        ctx.sys.unshare(CLONE_NEWNS)
        ctx.sys.mount("none", "/", None, MS_REC | MS_PRIVATE)
    except SyscallError as e:
        raise ActionError(f"cannot make a private mount namespace for the action: {e}") from None


def filesystem_type(device: str, fstype: str, variable: str) -> str:
    """FS_TYPE as given, or what the superblock says when it is empty."""
    if fstype:
        return fstype
    from agent.blockdev.superblock import HEAD_SIZE, identify

    try:
        with open(device, "rb") as f:
            found = identify(f.read(HEAD_SIZE))
    except OSError as e:
        raise ActionError(f"{variable}={device}: cannot read it: {e.strerror}") from None
    if found is None or found.fstype not in FSTYPES:
        raise ActionError(f"FS_TYPE is empty and {device} holds no filesystem the agent knows")
    return found.fstype


def check_device(device: str, variable: str) -> None:
    try:
        mode = os.stat(device).st_mode
    except OSError as e:
        raise ActionError(
            f"{variable}={device}: {e.strerror}; if it is a partition of a disk written just "
            "before, check that the image has a partition table with that partition"
        ) from None
    if not stat.S_ISBLK(mode):
        raise ActionError(f"{variable}={device}: not a block device")


@contextmanager
def mounted(
    ctx: ActionContext,
    device: str,
    fstype: str,
    variable: str,
    *,
    readonly: bool = False,
    at: Path | None = None,
) -> Iterator[Path]:
    """`device` mounted, in a private namespace, at `at` (made if missing, removed after)
    or at a new directory under ctx.scratch."""
    check_device(device, variable)
    fstype = filesystem_type(device, fstype, variable)
    private_mounts(ctx)
    made = at is None or not at.exists()
    if at is not None:
        where = at
        where.mkdir(exist_ok=True)
    else:
        ctx.scratch.mkdir(parents=True, exist_ok=True)
        where = Path(tempfile.mkdtemp(prefix="mnt.", dir=ctx.scratch))
    try:
        try:
            ctx.sys.mount(device, str(where), fstype, MS_RDONLY if readonly else 0)
        except SyscallError as e:
            hint = " (is FS_TYPE right?)" if e.errno == errno.EINVAL else ""
            raise ActionError(f"cannot mount {device} as {fstype}{hint}: {e.strerror}") from None
        try:
            yield where
        finally:
            unmount(ctx, where)
    finally:
        try:
            if made:
                where.rmdir()
        except OSError:
            pass  # still mounted (said so) or not empty: left for the scratch cleanup


@contextmanager
def bound(
    ctx: ActionContext, source: str, target: Path, *, readonly: bool = False
) -> Iterator[None]:
    """`source` bound at `target` (inside a tree mounted by `mounted`)."""
    try:
        ctx.sys.mount(source, str(target), None, MS_BIND | MS_REC)
        if readonly:
            ctx.sys.mount("none", str(target), None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    except SyscallError as e:
        raise ActionError(f"cannot bind {source} at {target}: {e.strerror}") from None
    try:
        yield
    finally:
        unmount(ctx, target, recursive=True)


def unmount(ctx: ActionContext, where: Path, *, recursive: bool = False) -> None:
    try:
        ctx.sys.umount(str(where), MNT_DETACH if recursive else 0)
    except SyscallError as e:
        if e.errno != errno.EBUSY:
            ctx.say(f"cannot unmount {where}: {e.strerror}")
            return
        ctx.say(f"{where} is still in use (a process left running?): detaching it lazily")
        try:
            ctx.sys.umount(str(where), MNT_DETACH)
        except SyscallError as e2:
            ctx.say(f"cannot detach {where}: {e2.strerror}")
