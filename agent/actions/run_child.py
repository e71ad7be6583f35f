"""The child side of one action attempt: everything between fork and `os._exit`.

In order: leave the agent's signal state behind (PID 1 blocks signals; a child must not
inherit that), put the output pipe on stdout and stderr, join the attempt's cgroup (before
anything that could fork) and a session of its own, take a private mount namespace with a
fresh tmpfs at `ctx.scratch` (whatever an action mounts goes away with its last process,
even after SIGKILL), run the built-in or the container, and send one `End` on the report
pipe.
"""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import sys
import threading
import traceback
from typing import NoReturn

from agent.actions import Action, ActionContext, ActionError, Then
from agent.actions.run_wire import End, Progress, Report, encode
from agent.cgroup import Group
from agent.syscalls import CLONE_NEWNS, MS_NODEV, MS_NOSUID, MS_REC, MS_SLAVE

DEFAULT_SIGNALS = (
    signal.SIGPIPE,
    signal.SIGXFSZ,
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGCHLD,
)


class _Reporter:
    """The child's say and progress: lines to stdout, reports to the report pipe."""

    def __init__(self, report_fd: int) -> None:
        self.fd = report_fd
        self.lock = threading.Lock()
        self.last: tuple[int, int | None] | None = None

    def send(self, report: Report) -> None:
        data = encode(report)
        with self.lock:
            while data:
                data = data[os.write(self.fd, data) :]

    def say(self, line: str) -> None:
        with self.lock:
            sys.stdout.write(line.rstrip("\n") + "\n")
            sys.stdout.flush()

    def progress(self, done: int, total: int | None) -> None:
        if (done, total) != self.last:
            self.last = (done, total)
            self.send(Progress(done, total))


def _stdio(out_fd: int) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(out_fd)
    # New file objects: the inherited ones may hold a lock another thread of the parent had.
    for fd, name in ((1, "stdout"), (2, "stderr")):
        stream = io.TextIOWrapper(
            io.FileIO(fd, "w", closefd=False), errors="replace", line_buffering=True
        )
        setattr(sys, name, stream)


def _no_inherited_fds() -> None:
    """Only stdin, stdout and stderr pass to what the action execs (the agent's console or
    server sockets must not leak into an action image)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass  # the listing's own descriptor, closed by now


def _signals() -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for sig in DEFAULT_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def _private_scratch(ctx: ActionContext) -> None:
    ctx.sys.unshare(CLONE_NEWNS)
    ctx.sys.mount("none", "/", None, MS_REC | MS_SLAVE)  # nothing we mount leaks out
    os.makedirs(ctx.scratch, exist_ok=True)
    ctx.sys.mount("tmpfs", str(ctx.scratch), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700")


def one_line(err: BaseException) -> str:
    """An unexpected exception as one line: its type, message and where it was raised."""
    frames = traceback.extract_tb(err.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    text = " ".join(str(err).split()) or "no message"
    return f"internal error: {type(err).__name__}: {text}{where}"


def _run(ctx: ActionContext, action: Action | None, reporter: _Reporter) -> End:
    child_ctx = dataclasses.replace(
        ctx, say=reporter.say, progress=reporter.progress, cancelled=threading.Event()
    )
    try:
        _private_scratch(ctx)
        if action is not None:
            return End(then=action(child_ctx) or Then.CONTINUE)
        from agent.container.run import run_container

        code = run_container(child_ctx)
        return End(error=f"exited with code {code}" if code else "", exit_code=code)
    except ActionError as err:
        return End(error=str(err) or type(err).__name__, exit_code=getattr(err, "exit_code", None))
    except Exception as err:
        return End(error=one_line(err))


def child_main(
    ctx: ActionContext, action: Action | None, group: Group, out_fd: int, report_fd: int
) -> NoReturn:
    """Never returns: the child of a fork must not unwind into the parent's code."""
    code = 1
    try:
        _signals()
        _stdio(out_fd)
        _no_inherited_fds()
        reporter = _Reporter(report_fd)
        try:
            group.join()  # before anything that could fork
        except OSError as err:
            end = End(error=f"cannot move the action into its cgroup {group.path}: {err}")
        else:
            os.setsid()
            end = _run(ctx, action, reporter)
        sys.stdout.flush()
        sys.stderr.flush()
        reporter.send(end)
        code = 0 if not end.error else 1
    except BaseException as err:  # the report pipe itself failed: the exit status tells
        try:
            os.write(2, f"{one_line(err)}\n".encode())
        except OSError:
            pass
    finally:
        os._exit(code)
