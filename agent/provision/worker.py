"""The worker: look this machine up, then run its workflow's actions one by one, reporting
each, until the workflow ends or an operator asks for the rescue shell.

It never gives up on its own: a server that is down, a MAC nobody knows yet, a 5xx, a
dropped connection, a refused token, an exception anywhere — each is logged with what
happens next and tried again with back-off (`agent.provision.backoff`); reports and log
lines wait in the outbox until the server has them. Retrying a failed action is the
server's decision (the next NEXT serves attempt+1). What to do when it all ends — power,
rescue, start over — is the caller's: `run()` returns a `WorkflowEnd`.
"""

from __future__ import annotations

import enum
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.actions import ActionOutcome, Then
from agent.cmdline import OnFailure
from agent.log import Log
from agent.provision import wire
from agent.provision.attempt import TERMINAL, Attempt, Setting, inner_of_waitdaemon, wait_seconds
from agent.provision.backoff import Backoff
from agent.provision.client import (
    BadToken,
    ClientError,
    MachineClient,
    UnknownMachine,
)
from agent.provision.outbox import Delivery, Outbox
from agent.syscalls import Syscalls

AGENT_VERSION = "metalinit 0.1"
# How long a terminal action's SUCCESS report may hold the machine up when the server does
# not answer: the machine goes down after this anyway (the server then sees it look up
# again and marks the action FAILED, and serves it again if it has retries left).
TERMINAL_REPORT_WAIT = 120.0
STOP_DELIVERY_WAIT = 10.0  # a stopped worker's last reports get this long to reach the server


class Ending(enum.Enum):
    DONE = "done"  # the workflow ended SUCCESS; nothing powered the machine down
    FAILED = "failed"  # ended FAILED or TIMEOUT (on_failure=retry never returns this)
    POWER = "power"  # a terminal action succeeded: go down as `then` says
    RESCUE = "rescue"  # an operator asked for the rescue shell
    NOTHING = "nothing"  # --once and the server had no workflow for this machine


@dataclass(frozen=True)
class WorkflowEnd:
    ending: Ending
    workflow: str = ""
    action: str = ""
    reason: str = ""
    then: Then = Then.CONTINUE

    def describe(self) -> str:
        where = f"workflow {self.workflow or '?'}"
        if self.action:
            where += f", action {self.action}"
        return f"{where}: {self.reason}" if self.reason else where


@dataclass(frozen=True)
class WorkerConfig:
    server: str
    macs: tuple[str, ...]
    inventory: Callable[[], dict[str, Any]]
    on_failure: OnFailure = OnFailure.RESCUE
    registry_mirror: str = ""
    once: bool = False
    after_action: Callable[[], None] = lambda: None  # e.g. refresh /dev/disk links
    verify: bool | str = True
    sys: Syscalls = field(default_factory=Syscalls)  # the actions'


class _LookUpAgain(Exception):
    """The server refused the token: start over with a lookup."""


@dataclass
class _Session:
    reply: wire.LookupReply
    outbox: Outbox
    last_failure: tuple[str, str] = ("", "")  # action name, message
    waiting_for: str = ""


@dataclass
class Worker:
    config: WorkerConfig
    log: Log
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.client = MachineClient(self.config.server, verify=self.config.verify)
        self.outbox = Outbox(self.client, self.log, Backoff())
        self.outbox.start()
        self._relookups = Backoff()  # reset by every answered NEXT
        self._running: Attempt | None = None
        self._stop_reason = "the worker was stopped"

    def cancel(self, reason: str = "the worker was stopped") -> None:
        """Stop: the running action is killed (and reported), then run() returns RESCUE."""
        self._stop_reason = reason
        self.stop.set()
        running = self._running
        if running is not None:
            running.signals.message = reason
            running.signals.cancelled.set()

    def run(self) -> WorkflowEnd:
        retry = Backoff()
        while not self.stop.is_set():
            try:
                session = self._lookup()
                end = self._workflow(session)
            except _LookUpAgain:
                self._sleep(self._relookups.next_delay())
                continue
            except Exception as err:  # the worker's own bug: say so, then start over
                delay = retry.next_delay()
                self.log.error(
                    f"worker: unexpected {type(err).__name__}: {err}; "
                    f"looking up again in {delay:.1f} s"
                )
                self.log.debug(traceback.format_exc())
                self._sleep(delay)
                continue
            if end.ending is Ending.FAILED and self._retries_failed_workflows:
                delay = retry.next_delay()
                self.log.warn(
                    f"{end.describe()}; metalinit.on_failure=retry: "
                    f"starting over with a lookup in {delay:.1f} s"
                )
                self._sleep(delay)
                continue
            return end
        return WorkflowEnd(Ending.RESCUE, reason=self._stop_reason)

    @property
    def _retries_failed_workflows(self) -> bool:
        return self.config.on_failure is OnFailure.RETRY and not self.config.once

    def _sleep(self, seconds: float) -> None:
        self.stop.wait(seconds)

    def _lookup(self) -> _Session:
        backoff = Backoff()
        macs = ", ".join(self.config.macs)
        while not self.stop.is_set():
            try:
                request = wire.LookupRequest(self.config.macs, self._inventory(), AGENT_VERSION)
                reply = self.client.lookup(request)
            except UnknownMachine as err:
                delay = backoff.next_delay(err.retry_after or 0.0)
                self.log.warn(
                    f"lookup: the server knows no machine with MAC {macs}; an operator "
                    f"can add it (`metalinit hw add --mac {self.config.macs[0]}`); "
                    f"asking again in {delay:.1f} s"
                )
            except ClientError as err:
                delay = backoff.next_delay(err.retry_after or 0.0)
                self.log.warn(f"lookup: {err}; trying again in {delay:.1f} s")
            else:
                self.client.token = reply.token
                self.outbox.backoff = Backoff(reply.backoff_initial, reply.backoff_max)
                self.outbox.resume()
                self.log.info(
                    f"lookup: this is {reply.hardware}; heartbeat every "
                    f"{reply.heartbeat_seconds:g} s"
                )
                return _Session(reply, self.outbox)
            self._sleep(delay)
        raise _LookUpAgain

    def _inventory(self) -> dict[str, Any]:
        try:
            return self.config.inventory()
        except Exception as err:  # a lookup without hardware details beats no lookup
            self.log.warn(f"inventory: {type(err).__name__}: {err}; looking up without it")
            return {}

    def _backoff(self, session: _Session) -> Backoff:
        return Backoff(session.reply.backoff_initial, session.reply.backoff_max)

    def _delivered(self, session: _Session, timeout: float | None = None) -> bool:
        """Wait until the outbox is empty; False if `timeout` passed first (or, once the
        worker is stopped, STOP_DELIVERY_WAIT)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.stop.is_set():
                cap = time.monotonic() + STOP_DELIVERY_WAIT
                deadline = cap if deadline is None else min(deadline, cap)
            left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            result = session.outbox.wait(max(0.0, left))
            if result is Delivery.NEEDS_LOOKUP:
                raise _LookUpAgain
            if result is Delivery.DONE:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def _workflow(self, session: _Session) -> WorkflowEnd:
        backoff = self._backoff(session)
        while not self.stop.is_set():
            self._delivered(session)  # the server decides on the next action from them
            try:
                reply = self.client.next()
            except BadToken as err:
                self.log.warn(f"next: {err}; looking up again")
                raise _LookUpAgain from None
            except ClientError as err:
                delay = backoff.next_delay(err.retry_after or 0.0)
                self.log.warn(f"next: {err}; asking again in {delay:.1f} s")
                self._sleep(delay)
                continue
            backoff.reset()
            self._relookups.reset()
            end = self._answer(session, reply)
            if end is not None:
                return end
        raise _LookUpAgain

    def _answer(self, session: _Session, reply: wire.NextReply) -> WorkflowEnd | None:
        if reply.rescue:
            return WorkflowEnd(
                Ending.RESCUE,
                reply.workflow,
                reason=reply.message or "an operator asked for the rescue shell",
            )
        match reply.kind:
            case wire.NextKind.ACTION:
                assert reply.action is not None
                return self._action(session, reply.action)
            case wire.NextKind.DONE:
                return WorkflowEnd(Ending.DONE, reply.workflow, reason=reply.message or "SUCCESS")
            case wire.NextKind.FAILED:
                action, message = session.last_failure
                return WorkflowEnd(
                    Ending.FAILED,
                    reply.workflow,
                    action,
                    reply.message or message or "the workflow failed",
                )
            case wire.NextKind.WAIT:
                if self.config.once and not reply.workflow:
                    return WorkflowEnd(Ending.NOTHING, reason=reply.message or "no workflow")
                if reply.message != session.waiting_for:
                    self.log.info(
                        f"next: nothing to run yet ({reply.message or 'waiting'}); "
                        f"asking every {reply.retry_after:g} s"
                    )
                    session.waiting_for = reply.message
                self._sleep(reply.retry_after)
        return None

    def _action(self, session: _Session, spec: wire.ActionSpec) -> WorkflowEnd | None:
        session.waiting_for = ""
        inner = inner_of_waitdaemon(spec)
        if inner is not None:
            return self._waitdaemon(session, spec, inner)
        self.log.info(
            f"action {spec.name} ({spec.image}): attempt {spec.attempt} of "
            f"{spec.retries + 1}, timeout {spec.timeout} s"
        )
        session.outbox.put(wire.Report(spec.id, spec.attempt, wire.ActionState.RUNNING))
        attempt = self._running = self._attempt(session, spec)
        try:
            outcome = attempt.run()
        finally:
            self._running = None
        self._after_action()
        report = wire.Report(
            spec.id, spec.attempt, outcome.state, outcome.message, round(outcome.seconds, 3)
        )
        self._say_outcome(spec, outcome)
        session.outbox.put(report)
        if outcome.state is wire.ActionState.SUCCESS and outcome.then in TERMINAL:
            return self._go_down(session, spec, outcome.then)
        self._delivered(session)
        answer = session.outbox.reply(report)
        if outcome.state is not wire.ActionState.SUCCESS:
            session.last_failure = (spec.name, outcome.message)
            if answer is not None and answer.retry:
                self.log.info(
                    f"action {spec.name}: the server serves it again "
                    f"(attempt {spec.attempt + 1} of {spec.retries + 1})"
                )
        if attempt.signals.rescue:
            return WorkflowEnd(
                Ending.RESCUE,
                spec.workflow,
                spec.name,
                attempt.signals.message or "an operator asked for the rescue shell",
            )
        if attempt.signals.token_refused:
            raise _LookUpAgain
        return None

    def _attempt(self, session: _Session, spec: wire.ActionSpec) -> Attempt:
        setting = Setting(self.config.server, self.config.registry_mirror, sys=self.config.sys)
        return Attempt(
            spec,
            self.client,
            self.log,
            setting,
            session.reply.heartbeat_seconds,
            lambda text: session.outbox.line(spec.id, spec.attempt, text),
        )

    def _after_action(self) -> None:
        try:
            self.config.after_action()
        except Exception as err:
            self.log.warn(f"after the action: {type(err).__name__}: {err}")

    def _say_outcome(self, spec: wire.ActionSpec, outcome: ActionOutcome) -> None:
        line = f"action {spec.name}: {outcome.state.value} after {outcome.seconds:.1f} s"
        line += f": {outcome.message}" if outcome.message else ""
        if outcome.state is wire.ActionState.SUCCESS:
            self.log.info(line)
        else:
            self.log.error(line)

    def _go_down(self, session: _Session, spec: wire.ActionSpec, then: Then) -> WorkflowEnd:
        """A terminal action succeeded: make sure the server knows, within a bound."""
        self.log.info(
            f"action {spec.name}: waiting up to {TERMINAL_REPORT_WAIT:.0f} s for the "
            f"server to store its SUCCESS before the {then.value}"
        )
        if not self._delivered(session, TERMINAL_REPORT_WAIT):
            self.log.warn(
                f"the server did not acknowledge the SUCCESS of {spec.name} within "
                f"{TERMINAL_REPORT_WAIT:.0f} s; going ahead with the {then.value}"
            )
        return WorkflowEnd(Ending.POWER, spec.workflow, spec.name, then.value, then)

    def _waitdaemon(
        self, session: _Session, spec: wire.ActionSpec, inner: wire.ActionSpec
    ) -> WorkflowEnd | None:
        """Report SUCCESS at once, then run the action named by IMAGE, as Tinkerbell's
        waitdaemon does, so a kexec or reboot wrapped in it reaches the server as done."""
        if not inner.image:
            message = "waitdaemon needs IMAGE= naming the action to run (e.g. the kexec action)"
            session.outbox.put(wire.Report(spec.id, spec.attempt, wire.ActionState.FAILED, message))
            self.log.error(f"action {spec.name}: {message}")
            session.last_failure = (spec.name, message)
            return None
        self.log.info(f"action {spec.name}: waitdaemon, reporting SUCCESS, then {inner.image}")
        session.outbox.put(wire.Report(spec.id, spec.attempt, wire.ActionState.RUNNING))
        session.outbox.put(
            wire.Report(
                spec.id,
                spec.attempt,
                wire.ActionState.SUCCESS,
                f"waitdaemon: runs {inner.image} next",
                0.0,
            )
        )
        if not self._delivered(session, TERMINAL_REPORT_WAIT):
            self.log.warn(
                f"the server did not acknowledge {spec.name} within "
                f"{TERMINAL_REPORT_WAIT:.0f} s; running {inner.image} anyway"
            )
        self._sleep(wait_seconds(spec))
        attempt = self._attempt(session, inner)
        attempt.beating = False  # the server holds the action as done: no heartbeat may cancel it
        outcome = attempt.run()
        self._after_action()
        self._say_outcome(inner, outcome)
        if outcome.state is wire.ActionState.SUCCESS and outcome.then in TERMINAL:
            return WorkflowEnd(
                Ending.POWER, spec.workflow, spec.name, outcome.then.value, outcome.then
            )
        if outcome.state is not wire.ActionState.SUCCESS:
            self.log.error(
                f"{inner.image} under waitdaemon failed after its SUCCESS was "
                "reported (as in Tinkerbell, the server does not learn of it)"
            )
        return None
