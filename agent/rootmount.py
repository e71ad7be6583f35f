"""The root stages: find the device `root=` names, mount it, and move the API filesystems
into it, so the entrypoint starts in a root that looks like a booted system."""

from __future__ import annotations

import os
import time

from agent.coldplug import load_index, load_module
from agent.context import Context
from agent.errors import AgentError
from agent.syscalls import MS_MOVE, MS_RDONLY

POLL_SECONDS = 0.05
MOVED = ("/dev", "/proc", "/sys", "/run")


class RootError(AgentError):
    pass


def _describe_disks(ctx: Context) -> str:
    """One line naming every disk and the root= values it would match, for the error."""
    from agent.blockdev.probe import probe
    from agent.blockdev.sysblock import list_block_devices
    from agent.rootspec import specs_matching

    seen = []
    for device in list_block_devices(ctx.paths.sys):
        path = str(ctx.paths.dev / device.name.replace("!", "/"))
        try:
            info = probe(path, sys_root=ctx.paths.sys, dev_root=ctx.paths.dev)[0]
        except (OSError, AgentError) as err:
            seen.append(f"{path} (unreadable: {err})")
            continue
        specs = " ".join(specs_matching(info)) or "no filesystem found"
        seen.append(f"{path} ({info.fstype or '?'}: {specs})")
    return "; ".join(seen) or "none"


def find_root(ctx: Context) -> None:
    from agent.blockdev.sysblock import find_root as find_device

    spec = ctx.params.root
    if spec is None:
        raise RootError("no root= on the kernel command line (e.g. root=/dev/vda or root=UUID=…)")
    if ctx.params.rootdelay:
        ctx.log.info(f"rootdelay: waiting {ctx.params.rootdelay} s")
        time.sleep(ctx.params.rootdelay)
    deadline = time.monotonic() + ctx.params.root_wait_seconds
    announced = False
    while True:
        info = find_device(spec, ctx.paths.sys, ctx.paths.dev)
        if info is not None:
            break
        if time.monotonic() >= deadline:
            raise RootError(
                f"root device {spec} not found after {ctx.params.root_wait_seconds:.0f} s; "
                f"disks seen: {_describe_disks(ctx)}"
            )
        if not announced:
            ctx.log.info(f"waiting for root device {spec}")
            announced = True
        time.sleep(POLL_SECONDS)
    ctx.root_device = info.path
    ctx.root_fstype = ctx.params.rootfstype or info.fstype
    ctx.log.info(f"root {spec} is {info.path} ({ctx.root_fstype or 'unknown filesystem'})")


def mount_root(ctx: Context) -> None:
    assert ctx.root_device is not None
    fstype = ctx.root_fstype
    if fstype is None:
        raise RootError(
            f"{ctx.root_device} has no filesystem the agent recognises; "
            "give rootfstype= if it is one the kernel knows"
        )
    index = load_index(ctx)
    for name in (fstype, f"fs-{fstype}"):
        if index.resolve(name):
            load_module(ctx, index, name)
            break
    target = str(ctx.paths.new_root)
    os.makedirs(target, exist_ok=True)
    flags = MS_RDONLY if ctx.params.read_only else 0
    try:
        ctx.sys.mount(ctx.root_device, target, fstype, flags, ctx.params.rootflags)
    except OSError as err:
        raise RootError(
            f"cannot mount {ctx.root_device} ({fstype}) on {target}: {err.strerror or err}; "
            "`dmesg | tail` shows the kernel's reason"
        ) from None
    ctx.root_mounted = True
    mode = "read-only" if ctx.params.read_only else "read-write"
    ctx.log.info(f"mounted {ctx.root_device} on {target} ({fstype}, {mode})")


def enter_root(ctx: Context) -> None:
    new_root = ctx.paths.new_root
    for path in MOVED:
        inside = f"{new_root}{path}"
        os.makedirs(inside, exist_ok=True)
        ctx.sys.mount(path, inside, None, MS_MOVE)
    if ctx.params.ip is not None or ctx.params.provision is not None:
        from agent.net.stage import carry_into_root

        carry_into_root(ctx, new_root)
