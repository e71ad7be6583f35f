"""The small stages that need no module of their own."""

from __future__ import annotations

import os

from agent import cmdline
from agent.context import Context
from agent.errors import AgentError


class RescueRequested(AgentError):
    pass


def read_cmdline(ctx: Context) -> None:
    try:
        text = ctx.cmdline_text or ctx.paths.cmdline.read_text()
    except OSError as err:
        raise AgentError(f"cannot read {ctx.paths.cmdline}: {err.strerror}") from None
    ctx.log.info(f"cmdline: {text.strip()}")
    ctx.params = cmdline.parse(text)
    ctx.log.quiet = ctx.params.quiet


def open_console(ctx: Context) -> None:
    """Give the agent and its children the console's real tty, so job control works there.

    Run again whenever a session on the console ends: when a session leader exits, the
    kernel hangs up its controlling tty for every open file, the agent's included.
    """
    if not ctx.takes_console:
        return
    if ctx.console_fd is not None:
        os.close(ctx.console_fd)
        ctx.console_fd = None
    from agent.rescue import console_tty

    for path in (console_tty(str(ctx.paths.sys)), str(ctx.paths.console)):
        if path is None:
            continue
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError:
            continue
        ctx.console_fd = fd
        for std in (0, 1, 2):
            os.dup2(fd, std, inheritable=True)
        return
    ctx.log.warn("no console device: output goes where the kernel pointed it")


def network(ctx: Context) -> None:
    if ctx.params.ip is None and ctx.params.provision is None:
        return
    from agent.net.stage import network as start_network
    from agent.net.stage import release

    start_network(ctx)
    ctx.before_power.append(lambda: release(ctx))


def rescue_if_asked(ctx: Context) -> None:
    if ctx.params.rescue:
        raise RescueRequested("metalinit.rescue is on the kernel command line")
