"""Runs one attempt of one action in a child process the worker can kill.

`run_action(ctx, timeout)` forks a child into a fresh cgroup v2 group (one per attempt),
runs in it the built-in action the image names (`agent.actions.table`) or else the image
as a container (`agent.container`), sends every line the action and everything it starts
write (stdout and stderr, in order) to `ctx.say` and its progress to `ctx.progress`, kills
the whole group when `timeout` seconds pass or `ctx.cancelled` is set, and returns how the
attempt ended. It never raises for a failing action, and leaves nothing behind: the group
is killed and removed, and the scratch tmpfs lived in the child's own mount namespace.

The child's status is read through a pidfd, and its verdict comes over the report pipe, so
a PID 1 elsewhere in the agent that reaps with waitpid(-1) cannot lose it.
"""

from __future__ import annotations

import functools
import math
import os
import selectors
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.actions import Action, ActionContext, ActionOutcome
from agent.actions.run_wire import End, Lines, Progress, decode
from agent.actions.table import builtin_for
from agent.cgroup import EMPTY_WAIT_SECONDS, CgroupError, Group
from agent.provision.wire import ActionState

POLL_SECONDS = 0.1  # how often ctx.cancelled is looked at
DRAIN_SECONDS = 2.0  # for output still in the pipes once the group is gone
READ_SIZE = 64 << 10
# Held from fork until the child has a pidfd: a PID 1 reaping orphans with waitpid(-1)
# takes it around each pass, so it can never reap an action's child before the pidfd
# exists (the pidfd would then name no process).
FORK_LOCK = threading.Lock()

Lookup = Callable[[str], Action | None]


@dataclass
class _Attempt:
    """What the parent has learnt of the child so far."""

    ctx: ActionContext
    lines: Lines = field(default_factory=Lines)
    reports: bytes = b""
    end: End | None = None
    status: int | None = None  # wait status; None if not reaped by us
    exited: bool = False
    broken: bool = False  # ctx.say or ctx.progress raised: the rest is only drained

    def _call(self, callback: Callable[[], None]) -> None:
        if self.broken:
            return
        try:
            callback()
        except BaseException:
            self.broken = True
            raise

    def output(self, data: bytes) -> None:
        for line in self.lines.feed(data) if data else self.lines.flush():
            self._call(functools.partial(self.ctx.say, line))

    def report(self, data: bytes) -> None:
        *complete, self.reports = (self.reports + data).split(b"\n")
        latest: Progress | None = None
        for raw in complete:
            match decode(raw):
                case Progress() as progress:
                    latest = progress
                case End() as end:
                    self.end = end
        if latest is not None:  # several at once: only the newest matters
            self._call(functools.partial(self.ctx.progress, latest.done, latest.total))


def _reap(pid: int) -> int | None:
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:  # someone else's waitpid(-1) took it
        return None


def _pump(
    attempt: _Attempt, sel: selectors.BaseSelector, pid: int, pidfd: int, deadline: float | None
) -> None:
    """Read until the child exits, the deadline passes or the worker cancels."""
    while not attempt.exited:
        now = time.monotonic()
        if attempt.ctx.cancelled.is_set() or (deadline is not None and now >= deadline):
            return
        wait = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - now)
        for key, _ in sel.select(wait):
            _ready(attempt, sel, key.fd, pid, pidfd)


def _ready(attempt: _Attempt, sel: selectors.BaseSelector, fd: int, pid: int, pidfd: int) -> None:
    if fd == pidfd:
        sel.unregister(pidfd)
        attempt.status = _reap(pid)
        attempt.exited = True
        return
    data = os.read(fd, READ_SIZE)
    handler = attempt.output if sel.get_key(fd).data == "out" else attempt.report
    handler(data)
    if not data:
        sel.unregister(fd)


def _drain(attempt: _Attempt, sel: selectors.BaseSelector, pid: int, pidfd: int) -> None:
    deadline = time.monotonic() + DRAIN_SECONDS
    while sel.get_map() and (left := deadline - time.monotonic()) > 0:
        for key, _ in sel.select(left):
            _ready(attempt, sel, key.fd, pid, pidfd)


def _finish(group: Group) -> tuple[int, str]:
    """Kill what is left in the group and remove it: (processes killed, a problem or "")."""
    left = group.pids()
    if left:
        group.kill()
    if not group.wait_empty():
        return len(left), f"; {_processes(len(group.pids()))} would not die, {group.path} kept"
    try:
        group.remove()
    except OSError as err:
        return len(left), f"; cgroup {group.path} not removed: {err}"
    return len(left), ""


def _processes(count: int) -> str:
    return f"{count} process" + ("" if count == 1 else "es")


def _verdict(attempt: _Attempt, timeout: float, stopped: str) -> ActionOutcome:
    """The outcome, before the time and the clean-up notes are added."""
    if stopped == "timeout":
        return ActionOutcome(ActionState.TIMEOUT, f"timed out after {timeout:g} s")
    if stopped == "cancelled":
        return ActionOutcome(ActionState.FAILED, "cancelled by the worker")
    end = attempt.end
    if end is not None:
        if end.error:
            return ActionOutcome(ActionState.FAILED, end.error, exit_code=end.exit_code)
        return ActionOutcome(ActionState.SUCCESS, then=end.then, exit_code=end.exit_code)
    status = attempt.status
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return ActionOutcome(
            ActionState.FAILED,
            f"the action's process was killed by {signal.Signals(sig).name}",
            exit_code=128 + sig,
        )
    code = None if status is None else os.waitstatus_to_exitcode(status)
    return ActionOutcome(
        ActionState.FAILED, f"the action's process ended (exit code {code}) without a verdict",
        exit_code=code,
    )  # fmt: skip


def run_action(
    ctx: ActionContext, timeout: float, *, lookup: Lookup = builtin_for
) -> ActionOutcome:
    """Run one attempt; `timeout` in seconds (0 or less, or inf: no limit). `lookup` maps
    an image to its built-in action (the table by default; tests pass their own)."""
    started = time.monotonic()
    deadline = None if timeout <= 0 or math.isinf(timeout) else started + timeout
    try:
        action = lookup(ctx.image)
        if action is None:
            from agent.container.pull import preload

            preload()
        group = Group.create(ctx.name or "action", ctx.sys)
    except (CgroupError, OSError) as err:
        return ActionOutcome(ActionState.FAILED, f"cannot start the action: {err}")
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    with FORK_LOCK:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child ends in os._exit
            os.close(out_r)
            os.close(report_r)
            from agent.actions.run_child import child_main

            child_main(ctx, action, group, out_w, report_w)
        pidfd = os.pidfd_open(pid)
    os.close(out_w)
    os.close(report_w)
    attempt = _Attempt(ctx)
    sel = selectors.DefaultSelector()
    sel.register(out_r, selectors.EVENT_READ, "out")
    sel.register(report_r, selectors.EVENT_READ, "report")
    sel.register(pidfd, selectors.EVENT_READ, "pid")
    stopped = ""
    try:
        _pump(attempt, sel, pid, pidfd, deadline)
        if not attempt.exited:
            if attempt.end is None:  # a verdict already sent stands: it only has to exit
                stopped = "cancelled" if ctx.cancelled.is_set() else "timeout"
            group.kill()
            _drain_until_exit(attempt, sel, pid, pidfd)
    finally:
        try:
            if not attempt.exited:  # an exception in ctx.say, or a child that would not die
                group.kill()
                attempt.status, attempt.exited = _reap(pid), True
            killed, problem = _finish(group)
            _drain(attempt, sel, pid, pidfd)
            attempt.output(b"")
        finally:
            sel.close()
            for fd in (out_r, report_r, pidfd):
                os.close(fd)
    outcome = _verdict(attempt, timeout, stopped)
    note = outcome.message
    if killed and not stopped:
        note += f"{'; ' if note else ''}{_processes(killed)} it left running killed"
    return ActionOutcome(
        outcome.state, note + problem, outcome.then, outcome.exit_code,
        time.monotonic() - started,
    )  # fmt: skip


def _drain_until_exit(attempt: _Attempt, sel: selectors.BaseSelector, pid: int, pidfd: int) -> None:
    """After the kill: keep reading (the pipes must not fill) until the child is reaped."""
    deadline = time.monotonic() + EMPTY_WAIT_SECONDS
    while not attempt.exited and time.monotonic() < deadline:
        for key, _ in sel.select(POLL_SECONDS):
            _ready(attempt, sel, key.fd, pid, pidfd)
