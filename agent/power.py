"""Power off, reboot and kexec the way a careful init does: stop processes, sync, unmount,
then ask the kernel. Called only from PID 1 (in a PID namespace the kernel ends the
namespace)."""

from __future__ import annotations

import enum

from agent.context import Context
from agent.supervise import stop_everyone
from agent.syscalls import (
    LINUX_REBOOT_CMD_KEXEC,
    LINUX_REBOOT_CMD_POWER_OFF,
    LINUX_REBOOT_CMD_RESTART,
    MNT_DETACH,
    MS_RDONLY,
    MS_REMOUNT,
)

KEEP_MOUNTED = {"/"}


class Power(enum.Enum):
    POWEROFF = LINUX_REBOOT_CMD_POWER_OFF
    REBOOT = LINUX_REBOOT_CMD_RESTART
    KEXEC = LINUX_REBOOT_CMD_KEXEC  # into the kernel an action loaded with kexec_file_load


def mounts_to_release(mountinfo: str) -> list[str]:
    """Every mount point but /, deepest last-mounted first."""
    ordered = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            ordered.append(fields[4].encode().decode("unicode_escape"))
    return [target for target in reversed(ordered) if target not in KEEP_MOUNTED]


def _read_mountinfo(ctx: Context) -> str:
    for proc in ("/proc", str(ctx.paths.new_root / "proc")):
        try:
            with open(f"{proc}/self/mountinfo") as f:
                return f.read()
        except OSError:
            continue
    return ""


def release_mounts(ctx: Context) -> None:
    for target in mounts_to_release(_read_mountinfo(ctx)):
        try:
            ctx.sys.umount(target)
        except OSError:
            try:  # busy (a process we could not stop holds it): at least make it clean
                ctx.sys.mount("none", target, None, MS_REMOUNT | MS_RDONLY)
            except OSError:
                pass
            try:
                ctx.sys.umount(target, MNT_DETACH)
            except OSError:
                pass


def drain_console(ctx: Context) -> None:
    """Wait until the console has sent what was written to it: a serial line is slow, and
    the last lines (the entrypoint's exit code) must not die with the machine."""
    import termios

    for fd in {fd for fd in (ctx.console_fd, 1) if fd is not None}:
        try:
            termios.tcdrain(fd)
        except (OSError, termios.error):
            pass


def power(ctx: Context, how: Power) -> None:
    ctx.log.info(f"{how.name.lower()}: stopping processes, syncing, unmounting")
    for hook in ctx.before_power:
        try:
            hook()
        except Exception as err:  # a failing hook must not stop the power-off
            ctx.log.warn(f"before {how.name.lower()}: {err}")
    stop_everyone()
    drain_console(ctx)
    ctx.sys.sync()
    release_mounts(ctx)
    ctx.sys.sync()
    ctx.sys.reboot(how.value)
