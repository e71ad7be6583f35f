"""The agent's log: one line per event, to the console, /dev/kmsg and /run/metalinit/agent.log.

Each line carries the kernel uptime, so a console capture shows where boot time goes.
`quiet` keeps the console to warnings and errors; kmsg and the file still get everything.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TextIO

LOG_FILE = Path("/run/metalinit/agent.log")
KMSG = Path("/dev/kmsg")
# Everything goes to kmsg at debug level: the kernel would otherwise print each line on the
# console a second time. `dmesg` still shows all of it, with our own level word.


def uptime() -> float:
    """Seconds since boot, the clock /proc/uptime shows (and readable with no /proc)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class Log:
    def __init__(
        self,
        console: TextIO | None = None,
        *,
        to_kmsg: bool = False,
        log_file: Path | None = None,
    ) -> None:
        self.console = console or sys.stdout
        self.quiet = False
        self.debug_enabled = False
        self.to_kmsg = to_kmsg
        self.log_file = log_file
        self._kmsg_fd: int | None = None

    def _emit(self, level: str, message: str) -> None:
        line = f"agent: [{uptime():8.3f}] {message}"
        if level in ("warn", "error") or not (self.quiet or level == "debug"):
            try:
                self.console.write(line + "\n")
                self.console.flush()
            except (OSError, ValueError):
                pass
        if level == "debug" and not self.debug_enabled:
            return
        self._to_kmsg(level, message)
        self._to_file(line)

    def _to_kmsg(self, level: str, message: str) -> None:
        if not self.to_kmsg:
            return
        try:
            if self._kmsg_fd is None:
                self._kmsg_fd = os.open(KMSG, os.O_WRONLY | os.O_CLOEXEC)
            os.write(self._kmsg_fd, f"<7>metalinit: {level}: {message}\n".encode())
        except OSError:
            self._kmsg_fd = None

    def _to_file(self, line: str) -> None:
        if self.log_file is None:
            return
        try:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with self.log_file.open("a") as f:
                f.write(line + "\n")
        except OSError:
            pass

    def banner(self, text: str) -> None:
        """A block for the person at the console (the rescue banner), as written: shown even
        with `quiet`; kmsg and the log file get it line by line."""
        try:
            self.console.write(text + "\n")
            self.console.flush()
        except (OSError, ValueError):
            pass
        for line in text.splitlines():
            self._to_kmsg("error", line)
            self._to_file(line)

    def debug(self, message: str) -> None:
        self._emit("debug", message)

    def info(self, message: str) -> None:
        self._emit("info", message)

    def warn(self, message: str) -> None:
        self._emit("warn", "warning: " + message)

    def error(self, message: str) -> None:
        self._emit("error", "error: " + message)
