"""The rescue shell: where every failure ends, instead of a kernel panic.

A banner says which stage failed, why, and what to try; then busybox sh runs on the console
in its own session with the console's real tty as its controlling terminal (what busybox's
cttyhack does). When the shell exits, the agent offers another or reboots.
"""

from __future__ import annotations

import os
import select
from dataclasses import dataclass
from typing import NoReturn

from agent.context import Context
from agent.entrypoint import Launch
from agent.errors import AgentError

ASK_AGAIN_SECONDS = 30.0
SHELL_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "TERM": "linux",
    "PS1": "(metalinit rescue) \\w # ",
}
HINTS = {
    "cmdline": "fix the kernel argument named above; `metalinit cmdline 'ARGS'` checks a "
    "command line before you boot it",
    "early_mounts": "the kernel lacks a filesystem the agent needs (devtmpfs, proc, sysfs)",
    "modules": "a driver failed to load; `lsmod` and `dmesg` show the state, "
    "`modprobe NAME` tries again",
    "network": "`ip link` and `metalinit dhcp` show the network; check cabling and the DHCP "
    "server, or boot with ip=off",
    "find_root": "`metalinit disks` lists the disks and the root= values each one matches",
    "mount_root": "`metalinit disks` shows the filesystem type; check rootfstype= and "
    "rootflags=, or run fsck on the device",
    "enter_root": "the root is mounted at /mnt; check that it has the directories it needs",
    "run_entrypoint": "the root is mounted at /mnt; `chroot /mnt /bin/sh` looks inside, "
    "entrypoint= chooses another program",
    "provision": "`metalinit workflow show ID` on the server shows each action and its log; "
    "after `metalinit workflow retry ID`, `metalinit worker --server URL` here (or a reboot) "
    "runs it again; `metalinit inventory` and `ls /dev/disk/by-id` show this machine's disks",
}


@dataclass(frozen=True)
class Failure:
    stage: str
    error: BaseException


def describe(error: BaseException) -> str:
    """An error as a reader needs it: our own errors by their message, others by their
    type too; never an empty string (a bare `OSError()` or `KeyboardInterrupt()` has none)."""
    text = str(error) if isinstance(error, AgentError | OSError) else repr(error)
    return text or type(error).__name__


def summary(failure: Failure | None, reason: str = "") -> str:
    """The one log line saying why the boot is at the rescue shell."""
    parts = [f"stage '{failure.stage}' failed: {describe(failure.error)}"] if failure else []
    return "; ".join(parts + ([reason] if reason else [])) or "the rescue shell was asked for"


def banner(failure: Failure | None, reason: str = "") -> str:
    lines = ["=" * 72]
    if failure is not None:
        lines += [f"metalinit: stage '{failure.stage}' failed", f"  why: {describe(failure.error)}"]
        hint = HINTS.get(failure.stage)
        if hint:
            lines.append(f"  try: {hint}")
    if reason:
        lines.append(f"metalinit: {reason}")
    lines += [
        "  this is the rescue shell (busybox sh); the agent's log is /run/metalinit/agent.log",
        "  `exit` ends it; `reboot -f` / `poweroff -f` restart or stop the machine",
        "=" * 72,
        "",
    ]
    return "\n".join(lines)


def console_tty(sys_root: str = "/sys") -> str | None:
    """The real tty behind /dev/console (the last one named is the kernel's primary)."""
    try:
        with open(f"{sys_root}/class/tty/console/active") as f:
            names = f.read().split()
    except OSError:
        return None
    return f"/dev/{names[-1]}" if names else None


def wait_for_enter(fd: int, seconds: float) -> bool:
    try:
        ready, _, _ = select.select([fd], [], [], seconds)
        return bool(ready) and bool(os.read(fd, 256))
    except OSError:
        return False


def shell_launch(ctx: Context) -> Launch:
    busybox = ctx.paths.busybox
    argv = (str(busybox), "sh") if busybox.exists() else ("/bin/sh",)
    return Launch(argv=argv, env=dict(SHELL_ENV), cwd="/")


def rescue(ctx: Context, failure: Failure | None, reason: str = "") -> NoReturn:
    from agent.early import setup_early
    from agent.launch import run_on_console
    from agent.power import Power, power
    from agent.supervise import Ending

    ctx.stage = "rescue"
    ctx.log.error(summary(failure, reason))
    ctx.log.banner(banner(failure, reason))
    while True:
        try:
            setup_early(ctx, root="")  # the root stage may have moved /proc and /dev away
        except OSError as err:
            ctx.log.warn(f"rescue: {err}")
        try:
            outcome = run_on_console(ctx, shell_launch(ctx), "/", "rescue shell")
            if outcome.ending is Ending.CTRL_ALT_DEL:
                ctx.log.info("ctrl-alt-del")
                power(ctx, Power.REBOOT)
            ctx.log.info(f"rescue shell exited with {outcome.code}")
        except (AgentError, OSError) as err:
            ctx.log.error(f"rescue shell: {describe(err)}")
        ctx.log.info(f"press Enter within {ASK_AGAIN_SECONDS:.0f} s for another shell; "
                     "otherwise the machine reboots")  # fmt: skip
        fd = ctx.console_fd if ctx.console_fd is not None else 0
        if not wait_for_enter(fd, ASK_AGAIN_SECONDS):
            try:
                power(ctx, Power.REBOOT)
            except OSError as err:
                ctx.log.error(f"reboot: {describe(err)}")
