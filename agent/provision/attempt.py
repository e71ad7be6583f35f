"""One attempt of one action: its context, its heartbeat, its output, how it ended.

The runner (`agent.actions.run.run_action`) forks the action and owns its timeout; this
module gives it the context (environment, output and progress callbacks, the cancel
event), keeps the heartbeat going meanwhile, and turns anything the runner raises into a
FAILED outcome, so an exception inside the worker is reported like any failing action.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from agent.actions import ActionContext, ActionOutcome, Then
from agent.actions.table import action_name
from agent.log import Log
from agent.provision.client import MachineClient
from agent.provision.heartbeat import HeartbeatThread, ProgressBox, Signals
from agent.provision.wire import ActionSpec, ActionState
from agent.syscalls import Syscalls

DEFAULT_TIMEOUT = 3600.0  # for an action whose timeout is 0 (the template gave none)
WAITDAEMON = "waitdaemon"
TERMINAL = (Then.KEXEC, Then.REBOOT, Then.POWEROFF)


@dataclass(frozen=True)
class Setting:
    """What every attempt of this worker shares."""

    server: str
    registry_mirror: str = ""
    scratch: Path = Path("/run/metalinit/action")
    sys: Syscalls = field(default_factory=Syscalls)


@dataclass
class Attempt:
    spec: ActionSpec
    client: MachineClient
    log: Log
    setting: Setting
    heartbeat_seconds: float
    line: Callable[[str], None]  # one output line, to the server's queue
    signals: Signals = field(default_factory=lambda: Signals(threading.Event()))
    beating: bool = True  # False once the server holds the action as ended (waitdaemon's IMAGE)

    def run(self) -> ActionOutcome:
        progress = ProgressBox()
        ctx = self.context(progress)
        beat = HeartbeatThread(
            self.client, self.spec, self.heartbeat_seconds, progress, self.signals, self.log
        )
        timeout = float(self.spec.timeout) if self.spec.timeout > 0 else DEFAULT_TIMEOUT
        started = time.monotonic()
        if self.beating:
            beat.start()
        try:
            outcome = _run_action(ctx, timeout)
        except Exception as err:  # the worker's own bug: report it, keep going
            self.log.debug(traceback.format_exc())
            outcome = ActionOutcome(
                ActionState.FAILED,
                f"the worker failed while running the action: {type(err).__name__}: {err}",
            )
        finally:
            if self.beating:
                beat.stop()
        if not outcome.seconds:
            outcome = replace(outcome, seconds=time.monotonic() - started)
        if self.signals.cancelled.is_set() and outcome.state is not ActionState.SUCCESS:
            why = self.signals.message or "cancelled by the server"
            outcome = replace(outcome, message=f"{outcome.message} ({why})".strip())
        return outcome

    def context(self, progress: ProgressBox) -> ActionContext:
        spec = self.spec
        return ActionContext(
            name=spec.name,
            image=spec.image,
            env=dict(spec.environment),
            command=spec.command,
            volumes=spec.volumes,
            pid=spec.pid,
            sys=self.setting.sys,
            say=self._say,
            progress=progress.set,
            scratch=self.setting.scratch,
            cancelled=self.signals.cancelled,
            server=self.setting.server,
            token=self.client.token,
            registry_mirror=self.setting.registry_mirror,
        )

    def _say(self, text: str) -> None:
        text = text.rstrip("\r\n")
        self.log.info(f"{self.spec.name}: {text}")
        self.line(text)


def _run_action(ctx: ActionContext, timeout: float) -> ActionOutcome:
    from agent.actions.run import run_action

    return run_action(ctx, timeout)


def inner_of_waitdaemon(spec: ActionSpec) -> ActionSpec | None:
    """The action a waitdaemon runs once it has reported: its IMAGE, with the same
    environment and command; None if `spec` is no waitdaemon (named as built-ins are)."""
    if action_name(spec.image) != WAITDAEMON:
        return None
    return replace(spec, image=spec.environment.get("IMAGE", "").strip())


def wait_seconds(spec: ActionSpec) -> float:
    """waitdaemon's WAIT_SECONDS: how long it waits after reporting, before IMAGE runs."""
    try:
        return max(0.0, float(spec.environment.get("WAIT_SECONDS", "0")))
    except ValueError:
        return 0.0
