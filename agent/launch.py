"""The last stage: start the entrypoint in the new root, stay PID 1 while it runs, and
follow `metalinit.on_exit=` when it ends."""

from __future__ import annotations

import os
import shlex
import signal
import time

from agent.cmdline import OnExit
from agent.context import Context
from agent.entrypoint import EntrypointError, Launch, plan_launch
from agent.rootfile import read_in_root
from agent.spawn import EXIT_NOT_FOUND, spawn
from agent.stages import open_console
from agent.supervise import Ending, Outcome, supervise
from rootfs_tools import image_config


class EntrypointEnded(EntrypointError):
    pass


def plan(ctx: Context) -> Launch:
    root = ctx.paths.new_root
    try:
        image = image_config.load(root)
    except image_config.ImageConfigError as err:
        raise EntrypointError(str(err)) from None
    return plan_launch(
        ctx.params,
        image,
        read_in_root(str(root), "/etc/passwd"),
        read_in_root(str(root), "/etc/group"),
        hostname=os.uname().nodename,
    )


def run_on_console(ctx: Context, launch: Launch, root: str, what: str) -> Outcome:
    """Start `launch` in its own session on the console and supervise it to its end.

    The console is opened again afterwards, whatever happened: the session's end hung it up.
    """
    try:
        pid = spawn(launch, root, ctx.console_fd)
        ctx.log.info(f"{what} started, pid {pid}")
        return supervise(pid, lambda sig: ctx.log.info(f"forwarding {signal.strsignal(sig)}"))
    finally:
        open_console(ctx)


def start_and_wait(ctx: Context, launch: Launch) -> tuple[Outcome, str]:
    try:
        outcome = run_on_console(ctx, launch, str(ctx.paths.new_root), "entrypoint")
    except EntrypointError as err:
        return Outcome(Ending.EXITED, EXIT_NOT_FOUND), str(err)
    return outcome, f"the entrypoint exited with code {outcome.code}"


def pause(seconds: float) -> None:
    """Sleep without leaving orphans unreaped (SIGCHLD stays blocked in PID 1)."""
    from agent.supervise import reap

    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        signal.sigtimedwait({signal.SIGCHLD}, min(left, 0.5))
        reap()


def run_entrypoint(ctx: Context) -> None:
    launch = plan(ctx)
    restarts = 0
    while True:
        ctx.log.info(
            f"entrypoint: {shlex.join(launch.argv)} "
            f"(uid {launch.uid}, gid {launch.gid}, cwd {launch.cwd})"
        )
        outcome, what = start_and_wait(ctx, launch)
        # Imported once the entrypoint has ended, so that they do not delay its start.
        from agent.on_exit import decide
        from agent.power import Power, power

        if outcome.ending is Ending.CTRL_ALT_DEL:
            ctx.log.info("ctrl-alt-del: rebooting")
            power(ctx, Power.REBOOT)
        ctx.log.info(what)
        decision = decide(ctx.params.on_exit, restarts)
        match decision.action:
            case OnExit.RESTART:
                ctx.log.info(f"restarting the entrypoint in {decision.delay:.0f} s")
                pause(decision.delay)
                restarts += 1
            case OnExit.POWEROFF:
                power(ctx, Power.POWEROFF)
            case OnExit.REBOOT:
                power(ctx, Power.REBOOT)
            case OnExit.RESCUE:
                raise EntrypointEnded(f"{what}; {decision.reason or 'metalinit.on_exit=rescue'}")
