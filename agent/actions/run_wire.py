"""What an action's child process tells the runner, and how its output becomes lines. Pure.

Two pipes lead from the child to the runner. The output pipe is the child's stdout and
stderr (one pipe, so lines keep the order they were written in) and is inherited by all
it starts; `Lines` cuts it into lines. The report pipe is the child's own (close-on-exec)
and carries one JSON object per line: progress as it goes, one `end` at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agent.actions import Then

MAX_LINE = 16 << 10  # a longer line is cut: a runaway `cat` of a binary stays bounded


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None


@dataclass(frozen=True)
class End:
    """How the child says it ended: a Then, or an error message (and an exit code)."""

    then: Then = Then.CONTINUE
    error: str = ""
    exit_code: int | None = None


Report = Progress | End


def encode(report: Report) -> bytes:
    if isinstance(report, Progress):
        body: dict[str, Any] = {"progress": [report.done, report.total]}
    else:
        body = {"then": report.then.value, "error": report.error, "exit_code": report.exit_code}
    return json.dumps(body).encode() + b"\n"


def decode(line: bytes) -> Report | None:
    """One report line; None for a line that is not one (it is ignored, not fatal)."""
    try:
        body = json.loads(line)
        if "progress" in body:
            done, total = body["progress"]
            return Progress(int(done), None if total is None else int(total))
        code = body.get("exit_code")
        return End(Then(body["then"]), str(body.get("error") or ""), code)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class Lines:
    """Bytes in, complete lines out. A `\\r` rewrites its line as a terminal would, so a
    progress bar sends its last state, not every frame; invalid UTF-8 is replaced."""

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, data: bytes) -> list[str]:
        chunks = (self._partial + data).split(b"\n")
        self._partial = chunks.pop()
        lines = [_text(chunk[i : i + MAX_LINE]) for chunk in chunks for i in _cuts(chunk)]
        while len(self._partial) > MAX_LINE:
            lines.append(_text(self._partial[:MAX_LINE]))
            self._partial = self._partial[MAX_LINE:]
        return lines

    def flush(self) -> list[str]:
        rest, self._partial = self._partial, b""
        return [_text(rest)] if rest else []


def _cuts(chunk: bytes) -> range:
    return range(0, max(len(chunk), 1), MAX_LINE)


def _text(chunk: bytes) -> str:
    chunk = chunk.removesuffix(b"\r")
    if b"\r" in chunk:
        chunk = next((part for part in reversed(chunk.split(b"\r")) if part), b"")
    return chunk.decode("utf-8", "replace")
