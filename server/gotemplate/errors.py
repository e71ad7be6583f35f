"""The renderer's one exception: what went wrong, and where in the template."""

from __future__ import annotations


class TemplateError(Exception):
    """A template that does not parse or does not execute.

    `line` and `column` count from 1 (0 when unknown); `str()` reads
    `line 3, column 18: map has no entry for key "device_2"`.
    """

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        if self.line and self.column:
            return f"line {self.line}, column {self.column}: {self.message}"
        if self.line:
            return f"line {self.line}: {self.message}"
        return self.message


class FuncError(Exception):
    """Raised by a template function; the executor reports it as `error calling NAME: …`."""


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset in `text`."""
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1
