"""metalinit's /init. The boot, in order, is the STAGES list; `agent.runner` runs it."""

from __future__ import annotations

import os
import sys

from agent.coldplug import coldplug as modules
from agent.context import Context
from agent.early import early_mounts
from agent.launch import run_entrypoint
from agent.log import LOG_FILE, Log
from agent.provision.stage import provision
from agent.rootmount import enter_root, find_root, mount_root
from agent.runner import run
from agent.stages import network, open_console, read_cmdline, rescue_if_asked
from agent.supervise import block_signals
from agent.syscalls import LINUX_REBOOT_CMD_CAD_OFF, Syscalls

STAGES = (
    early_mounts,
    open_console,
    read_cmdline,
    modules,
    network,
    rescue_if_asked,
    provision,  # with provision=URL: the workflow, and the boot never reaches the root stages
    find_root,
    mount_root,
    enter_root,
    run_entrypoint,
)
HARNESS_FLAG = "--cmdline="


def make_context(argv: list[str]) -> Context:
    """The machine's init, or (with --cmdline=TEXT) a test harness in a namespace that
    keeps its own stdio and takes its command line from the argument."""
    harness = next((arg for arg in argv[1:2] if arg.startswith(HARNESS_FLAG)), None)
    if harness:
        ctx = Context(Syscalls(), Log(log_file=LOG_FILE), takes_console=False)
        ctx.cmdline_text = harness[len(HARNESS_FLAG) :]
        return ctx
    _ensure_stdio()
    ctx = Context(Syscalls(), Log(to_kmsg=True, log_file=LOG_FILE))
    if os.getpid() == 1:
        try:
            ctx.sys.reboot(LINUX_REBOOT_CMD_CAD_OFF)  # ctrl-alt-del becomes SIGINT to us
        except OSError as err:
            ctx.log.warn(f"ctrl-alt-del: {err}")
    return ctx


def _ensure_stdio() -> None:
    """A kernel that found no /dev/console starts init with no fds 0-2."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            for path in ("/dev/console", "/dev/null"):
                try:
                    os.dup2(os.open(path, os.O_RDWR), fd)
                    break
                except OSError:
                    continue
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives forever


def main() -> None:
    if os.path.basename(sys.argv[0]) == "metalinit":  # /usr/bin/metalinit in a rescue shell
        from agent.cli import main as command

        raise SystemExit(command(sys.argv[1:]))
    block_signals()
    ctx = make_context(sys.argv)
    run(ctx, STAGES)


if __name__ == "__main__":
    try:
        main()
    finally:  # never return: init exiting is a kernel panic
        if os.getpid() == 1:
            from agent.last_resort import last_resort

            last_resort()
