"""What the user sees: a rich display on a terminal, plain lines otherwise, or nothing.

rich is imported only when a terminal display is wanted.
"""

from __future__ import annotations

import enum
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any


class Mode(enum.Enum):
    RICH = "rich"
    PLAIN = "plain"
    QUIET = "quiet"

    @classmethod
    def choose(cls, quiet: bool) -> Mode:
        if quiet:
            return cls.QUIET
        return cls.RICH if sys.stdout.isatty() else cls.PLAIN


class Progress:
    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self._rich: Any = None
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        if self.mode is Mode.RICH:
            from rich import progress as rp

            self._rich = rp.Progress(
                rp.TextColumn("{task.description}"),
                rp.BarColumn(),
                rp.DownloadColumn(),
                rp.TransferSpeedColumn(),
                rp.TimeElapsedColumn(),
                transient=False,
            )
            self._rich.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._rich is not None:
            self._rich.stop()

    def say(self, text: str) -> None:
        if self.mode is Mode.RICH:
            self._rich.console.print(text)
        elif self.mode is Mode.PLAIN:
            print(text, flush=True)

    def task(self, description: str, total: int) -> Callable[[int], None]:
        """A counter of bytes; call it with each advance. Plain mode prints at the end."""
        if self.mode is Mode.RICH:
            task_id = self._rich.add_task(description, total=total)
            return lambda n: self._rich.advance(task_id, n)
        done = [0]

        def advance(n: int) -> None:
            with self._lock:
                done[0] += n
                if n and done[0] == total and self.mode is Mode.PLAIN:
                    print(f"{description}: {total} bytes", flush=True)

        return advance
