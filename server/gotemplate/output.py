"""Where rendered text goes: a buffer that refuses to grow past its limit, and a trace of
which template offset produced each piece, so a message about the output can name the
template's line."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Output:
    limit: int
    parts: list[str] = field(default_factory=list)
    size: int = 0
    length: int = 0  # characters so far
    # (output offset, template offset, copied text?) for each write: see Rendered.source_line
    trace: list[tuple[int, int, bool]] = field(default_factory=list)

    def write(self, text: str, source: int, copied: bool) -> bool:
        self.trace.append((self.length, source, copied))
        self.length += len(text)
        self.size += len(text.encode("utf-8", "surrogatepass"))
        self.parts.append(text)
        return self.size <= self.limit


@dataclass(frozen=True)
class Rendered:
    """Output, and a map back to the template for messages about the output."""

    text: str
    template: str
    trace: tuple[tuple[int, int, bool], ...]

    def source_line(self, line: int) -> int:
        """The template line that produced output line `line` (both from 1)."""
        offset = 0
        for _ in range(line - 1):
            found = self.text.find("\n", offset)
            if found < 0:
                break
            offset = found + 1
        source = 0
        for out_at, src_at, copied in self.trace:
            if out_at > offset:
                break
            source = src_at + (offset - out_at if copied else 0)
        return self.template.count("\n", 0, source) + 1
