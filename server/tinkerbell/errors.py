"""The one exception of this package: what is wrong, with the line and field it is at."""

from __future__ import annotations


class TinkerbellError(ValueError):
    """A template, a rendered workflow or a Tinkerbell object that cannot be used.

    `line` counts from 1 (0 when unknown), `field` is a path such as
    `tasks[0].actions[2].image` ("" when the whole document is meant), `document` the
    1-based number of the YAML document in a multi-document file (0 for a single one).
    `str()` reads `document 2, line 14, tasks[0].actions[1].image: …`.
    """

    def __init__(self, message: str, *, line: int = 0, field: str = "", document: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.field = field
        self.document = document

    def __str__(self) -> str:
        where = []
        if self.document:
            where.append(f"document {self.document}")
        if self.line:
            where.append(f"line {self.line}")
        if self.field:
            where.append(self.field)
        return (", ".join(where) + ": " if where else "") + self.message

    def in_document(self, number: int) -> TinkerbellError:
        return TinkerbellError(self.message, line=self.line, field=self.field, document=number)
