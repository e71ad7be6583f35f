"""The provisioning boot stage: with `provision=URL` on the kernel command line, the worker
runs after the network stage, in place of the root stages, and the boot follows its end:

- a terminal action (kexec, reboot, poweroff) succeeded and was reported: release the
  lease (the network stage's power hook), stop processes, sync, unmount, go down that way;
- the workflow failed: `metalinit.on_failure=` — `rescue` (the default: the rescue
  banner names the workflow, the action and the reason), `reboot`, or `retry` (the worker
  itself starts over with a lookup after a back-off, and so never ends here);
- the workflow succeeded without a terminal action, or an operator asked for the rescue
  shell (from the server, or by typing `rescue` on the console): the rescue shell.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Callable

from agent.actions import Then
from agent.cmdline import OnFailure
from agent.context import Context
from agent.errors import AgentError
from agent.stages import RescueRequested

CONSOLE_WORD = "rescue"
REAP_SECONDS = 1.0
WATCH_SECONDS = 0.3


class WorkflowFailed(AgentError):
    """The workflow ended FAILED or TIMEOUT on the server."""


def provision(ctx: Context) -> None:
    if ctx.params.provision is None:
        return
    from agent.provision.inventory import Roots, collect, lookup_macs
    from agent.provision.worker import Ending, Worker, WorkerConfig

    def links() -> None:
        from agent.provision.disklinks import refresh

        refresh(ctx.paths.sys, ctx.paths.dev, ctx.log)

    def inventory() -> dict[str, object]:
        return collect(Roots(sys=ctx.paths.sys), boot_mac=_lease_mac(ctx))

    links()
    macs = lookup_macs(inventory())
    if not macs:
        raise AgentError("no network interface with a MAC address to look this machine up by")
    config = WorkerConfig(
        server=ctx.params.provision,
        macs=macs,
        inventory=inventory,
        on_failure=ctx.params.on_failure,
        registry_mirror=ctx.params.registry_mirror or "",
        after_action=links,
        sys=ctx.sys,
    )
    worker = Worker(config, ctx.log)
    watching = _watch_console(ctx, worker.cancel)
    _reap_orphans()
    end = worker.run()
    watching.set()
    time.sleep(WATCH_SECONDS if ctx.console_fd is not None else 0)  # the watch has let go
    match end.ending:
        case Ending.POWER:
            _power(ctx, end.then)
        case Ending.FAILED if ctx.params.on_failure is OnFailure.REBOOT:
            ctx.log.error(f"{end.describe()}; metalinit.on_failure=reboot")
            _power(ctx, Then.REBOOT)
        case Ending.FAILED | Ending.NOTHING:
            raise WorkflowFailed(end.describe())
        case Ending.RESCUE:
            raise RescueRequested(end.describe())
        case Ending.DONE:
            from agent.rescue import rescue

            rescue(ctx, None, f"{end.describe()}; no action rebooted or powered off the machine")


def _power(ctx: Context, then: Then) -> None:
    from agent.power import Power, power

    how = {Then.KEXEC: Power.KEXEC, Then.REBOOT: Power.REBOOT, Then.POWEROFF: Power.POWEROFF}
    try:
        power(ctx, how[then])
    except OSError as err:
        raise AgentError(f"{then.value} after the workflow: {err}") from None


def _lease_mac(ctx: Context) -> str | None:
    lease = ctx.lease or {}
    return str(lease["mac"]) if lease.get("mac") else None


def _reap_orphans() -> None:
    """As PID 1, reap what actions leave behind (their orphans are reparented to us and
    SIGCHLD stays blocked). Safe beside the runner, which learns its own child's end
    through a pidfd (made under FORK_LOCK, which each pass here takes) and its report pipe."""
    if os.getpid() != 1:
        return

    from agent.actions.run import FORK_LOCK

    def reap() -> None:
        while True:
            time.sleep(REAP_SECONDS)
            with FORK_LOCK:
                try:
                    while os.waitpid(-1, os.WNOHANG)[0] > 0:
                        pass
                except ChildProcessError:
                    pass

    threading.Thread(target=reap, name="reaper", daemon=True).start()


def _watch_console(ctx: Context, cancel: Callable[[str], None]) -> threading.Event:
    """A line `rescue` typed on the console stops the workflow and opens the rescue shell.
    Setting the returned event ends the watch, so the rescue shell gets all its input."""
    done = threading.Event()
    fd = ctx.console_fd
    if fd is None:
        return done
    ctx.log.info(f"provision: type '{CONSOLE_WORD}' and Enter on the console for the rescue shell")

    def watch() -> None:
        typed = b""
        while not done.is_set():
            try:
                ready, _, _ = select.select([fd], [], [], WATCH_SECONDS)
                chunk = os.read(fd, 256) if ready else b""
            except OSError:
                return
            if ready and not chunk:
                return
            typed = (typed + chunk)[-256:]
            if any(line.strip() == CONSOLE_WORD.encode() for line in typed.splitlines()):
                cancel("'rescue' was typed on the console")
                return

    threading.Thread(target=watch, name="console", daemon=True).start()
    return done
