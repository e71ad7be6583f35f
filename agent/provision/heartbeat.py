"""The heartbeat while an action runs: every `heartbeat_seconds`, the attempt and its
progress (bytes written and total for image writes) to the server; the server's answer
may cancel the action (the workflow ended there, e.g. on its global_timeout) or ask for the
rescue shell. A heartbeat that does not get through is logged once and not resent: the
next one carries the newer progress."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from agent.log import Log
from agent.provision.client import BadToken, ClientError, MachineClient
from agent.provision.wire import ActionSpec, Heartbeat, Progress


@dataclass
class ProgressBox:
    """The latest progress an action reported; set from the runner's thread."""

    done: int = 0
    total: int | None = None
    seen: bool = False

    def set(self, done: int, total: int | None) -> None:
        self.done, self.total, self.seen = done, total, True

    def wire(self) -> Progress | None:
        return Progress(self.done, self.total) if self.seen else None


@dataclass
class Signals:
    """What the server said through heartbeats, read by the worker after the action."""

    cancelled: threading.Event
    rescue: bool = False
    token_refused: bool = False
    message: str = ""


@dataclass
class HeartbeatThread:
    client: MachineClient
    action: ActionSpec
    interval: float
    progress: ProgressBox
    signals: Signals
    log: Log
    _stop: threading.Event = field(default_factory=threading.Event)
    _failing: str = ""

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._beat()
            except Exception as err:  # never let a heartbeat end the worker
                self._failed(f"heartbeat: unexpected {type(err).__name__}: {err}")

    def _beat(self) -> None:
        beat = Heartbeat(self.action.id, self.action.attempt, self.progress.wire())
        try:
            reply = self.client.heartbeat(beat)
        except BadToken as err:
            self.signals.token_refused = True
            self._failed(f"heartbeat: {err}; the worker looks up again after this action")
            return
        except ClientError as err:
            self._failed(f"heartbeat: {err}; the action goes on, its reports wait for the server")
            return
        if self._failing:
            self.log.info("heartbeat: the server answers again")
            self._failing = ""
        if reply.rescue and not self.signals.rescue:
            self.log.warn(
                f"the server asks for the rescue shell: stopping action "
                f"{self.action.name} {reply.message}".rstrip()
            )
            self.signals.rescue = True
        if reply.cancel or reply.rescue:
            if reply.cancel and not self.signals.cancelled.is_set():
                why = reply.message or "the workflow ended on the server"
                self.log.warn(f"the server cancels action {self.action.name}: {why}")
            self.signals.message = reply.message or self.signals.message
            self.signals.cancelled.set()

    def _failed(self, message: str) -> None:
        if message != self._failing:
            self.log.warn(message)
        self._failing = message
