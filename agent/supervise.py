"""PID 1's wait loop, shaped like tini: signals stay blocked and are taken synchronously with
sigtimedwait, forwarded to the child's process group, and every child is reaped.

No Python signal handlers run in PID 1. A SIGINT that the kernel itself sends is
ctrl-alt-del (after `reboot(CAD_OFF)`), and is reported instead of forwarded.
"""

from __future__ import annotations

import enum
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

FORWARDED = frozenset(
    {
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGWINCH,
    }
)
HANDLED = FORWARDED | {signal.SIGCHLD}
SI_KERNEL = 0x80
STOP_GRACE_SECONDS = 10.0


class Ending(enum.Enum):
    EXITED = "exited"
    CTRL_ALT_DEL = "ctrl-alt-del"


@dataclass(frozen=True)
class Outcome:
    ending: Ending
    code: int = 0  # exit code, 128+N for a signal, as a shell reports it


def block_signals() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def reap(main_pid: int = -1) -> tuple[int | None, bool]:
    """Reap every exited child. Returns the main child's wait status if it was among them,
    and whether no child at all is left."""
    main_status = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return main_status, True
        if pid == 0:
            return main_status, False
        if pid == main_pid:
            main_status = status


def forward(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def supervise(
    pid: int,
    on_signal: Callable[[int], None] = lambda sig: None,
    grace: float = STOP_GRACE_SECONDS,
) -> Outcome:
    """Wait for `pid` to end, forwarding signals; a SIGTERM not obeyed within `grace`
    seconds is followed by SIGKILL, as `docker stop` does."""
    kill_at: float | None = None
    while True:
        info = signal.sigtimedwait(HANDLED, 0.5)
        if info is not None and info.si_signo != signal.SIGCHLD:
            if info.si_signo == signal.SIGINT and info.si_code == SI_KERNEL:
                return Outcome(Ending.CTRL_ALT_DEL)
            on_signal(info.si_signo)
            forward(pid, info.si_signo)
            if info.si_signo == signal.SIGTERM and kill_at is None:
                kill_at = time.monotonic() + grace
        status, _ = reap(pid)
        if status is not None:
            return Outcome(Ending.EXITED, exit_code(status))
        if kill_at is not None and time.monotonic() >= kill_at:
            forward(pid, signal.SIGKILL)
            kill_at = float("inf")


def stop_everyone(grace: float = 3.0) -> None:
    """SIGTERM to every other process, SIGKILL to those still there after `grace` seconds.

    Only PID 1 may do this: from anywhere else `kill(-1)` reaches the whole machine.
    """
    if os.getpid() != 1:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 1.0)):
        try:
            os.kill(-1, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if reap()[1]:
                return
            signal.sigtimedwait({signal.SIGCHLD}, 0.1)
