"""Reports and log lines on their way to the server, each kept until the server has it.

One thread delivers them in the order they were put — an attempt's RUNNING, its output
lines, its end — so the server never sees an end before its start or lines out of order.
A report stays queued until the server answers it (the same report twice is stored once);
a batch of lines until the server stores it (`first` numbers its first line, so a batch
sent again after a lost reply is stored once). While the server cannot be reached the
thread backs off and says so once per outage. A 401 pauses delivery until the worker has
looked up again and calls `resume`; a request the server refuses outright (403, 409, 422)
is dropped with a warning, since sending it again cannot help.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from agent.log import Log
from agent.provision.backoff import Backoff
from agent.provision.client import BadToken, ClientError, MachineClient, Refused
from agent.provision.wire import LogLines, Report, ReportReply

LINE_LIMIT = 8192  # characters; a longer line is cut, and says so
BATCH_LINES = 200
BATCH_CHARS = 64 * 1024
LINGER_SECONDS = 0.2  # a batch waits this long for more lines before it is sent
QUEUED_LINES_LIMIT = 50_000  # past this (a long outage) lines are counted, not kept
REPLIES_KEPT = 32


class Delivery(enum.Enum):
    DONE = "done"  # everything put so far has been acknowledged
    NEEDS_LOOKUP = "needs lookup"  # the server refused the token: look up, then resume()
    TIMED_OUT = "timed out"


@dataclass
class _Batch:
    action_id: str
    attempt: int
    first: int
    lines: list[str] = field(default_factory=list)
    chars: int = 0
    closed: bool = False  # being sent: no more lines go into it

    def wire(self) -> LogLines:
        return LogLines(self.action_id, self.attempt, self.first, tuple(self.lines))


_Item = Report | _Batch


class Outbox:
    def __init__(self, client: MachineClient, log: Log, backoff: Backoff) -> None:
        self.client = client
        self.log = log
        self.backoff = backoff
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._numbers: dict[tuple[str, int], int] = {}
        self._replies: dict[tuple[str, int, str], ReportReply] = {}
        self._queued_lines = 0
        self._dropped_lines = 0
        self._paused = False
        self._stopped = False
        self._outage = ""  # why the server could not be reached, while it cannot
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def put(self, report: Report) -> None:
        with self._cond:
            self._queue.append(report)
            self._cond.notify_all()

    def line(self, action_id: str, attempt: int, text: str) -> None:
        """One line of an attempt's output, numbered from 0 within the attempt."""
        if len(text) > LINE_LIMIT:
            text = text[:LINE_LIMIT] + f" [cut: {len(text) - LINE_LIMIT} more characters]"
        with self._cond:
            if self._queued_lines >= QUEUED_LINES_LIMIT:
                self._dropped_lines += 1
                return
            if self._dropped_lines:
                dropped, self._dropped_lines = self._dropped_lines, 0
                self._add_line(
                    action_id,
                    attempt,
                    f"[metalinit: {dropped} lines of output "
                    "dropped while the server could not take them]",
                )
            self._add_line(action_id, attempt, text)
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> Delivery:
        """Until everything put so far is acknowledged, or delivery needs a new token."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue and not self._paused:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return Delivery.TIMED_OUT
                self._cond.wait(left)
            return Delivery.NEEDS_LOOKUP if self._paused else Delivery.DONE

    def resume(self) -> None:
        """The worker has a new token (the client carries it): deliver again."""
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def reply(self, report: Report) -> ReportReply | None:
        with self._cond:
            return self._replies.get(_key(report))

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def _add_line(self, action_id: str, attempt: int, text: str) -> None:
        key = (action_id, attempt)
        number = self._numbers.get(key, 0)
        self._numbers[key] = number + 1
        tail = self._queue[-1] if self._queue else None
        if not (
            isinstance(tail, _Batch)
            and not tail.closed
            and (tail.action_id, tail.attempt) == key
            and len(tail.lines) < BATCH_LINES
            and tail.chars + len(text) <= BATCH_CHARS
        ):
            tail = _Batch(action_id, attempt, number)
            self._queue.append(tail)
        tail.lines.append(text)
        tail.chars += len(text)
        self._queued_lines += 1

    def _next_item(self) -> _Item | None:
        with self._cond:
            while not self._stopped and (self._paused or not self._queue):
                self._cond.wait()
            if self._stopped:
                return None
            head = self._queue[0]
            if isinstance(head, _Batch) and head is self._queue[-1]:
                self._cond.wait(LINGER_SECONDS)  # let the action print a few more lines
            if isinstance(head, _Batch):
                head.closed = True
            return head

    def _run(self) -> None:
        while (item := self._next_item()) is not None:
            try:
                self._send(item)
            except BadToken as err:
                self.log.warn(
                    f"{err}: holding {self.pending} reports and log batches "
                    "until the worker has looked up again"
                )
                with self._cond:
                    self._paused = True
                    self._cond.notify_all()
                continue
            except Refused as err:
                self.log.warn(f"{err}; dropped it ({_describe(item)}), the server will not take it")
            except ClientError as err:
                self._wait_out(item, str(err), err.retry_after)
                continue
            except Exception as err:  # a bug must not end delivery: log it, back off, go on
                self._wait_out(item, f"unexpected {type(err).__name__}: {err}", None)
                continue
            self._delivered(item)

    def _send(self, item: _Item) -> None:
        if isinstance(item, _Batch):
            self.client.log(item.wire())
            return
        reply = self.client.report(item)
        with self._cond:
            self._replies[_key(item)] = reply
            while len(self._replies) > REPLIES_KEPT:
                del self._replies[next(iter(self._replies))]

    def _delivered(self, item: _Item) -> None:
        with self._cond:
            self._queue.popleft()
            if isinstance(item, _Batch):
                self._queued_lines -= len(item.lines)
            self._cond.notify_all()
            left = len(self._queue)
        self.backoff.reset()
        if self._outage:
            self.log.info(f"server reachable again; delivering the {left + 1} queued items")
            self._outage = ""

    def _wait_out(self, item: _Item, why: str, retry_after: float | None) -> None:
        delay = self.backoff.next_delay(retry_after or 0.0)
        if not self._outage:
            self.log.warn(
                f"{why}; keeping {self.pending} reports and log batches, "
                f"sending again in {delay:.1f} s and on, with back-off"
            )
        else:
            self.log.debug(f"{_describe(item)} not delivered yet: {why}; next try in {delay:.1f} s")
        self._outage = why
        with self._cond:
            self._cond.wait_for(lambda: self._stopped, delay)


def _key(report: Report) -> tuple[str, int, str]:
    return (report.action_id, report.attempt, report.state.value)


def _describe(item: _Item) -> str:
    if isinstance(item, _Batch):
        return f"log lines {item.first}-{item.first + len(item.lines) - 1} of {item.action_id}"
    return f"report {item.state.value} of {item.action_id} attempt {item.attempt}"
