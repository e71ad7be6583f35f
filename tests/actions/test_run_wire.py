"""The runner's pure parts: output cut into lines, reports encoded and decoded."""

from __future__ import annotations

import pytest

from agent.actions import Then
from agent.actions.run_wire import MAX_LINE, End, Lines, Progress, Report, decode, encode


@pytest.mark.parametrize(
    ("chunks", "lines", "rest"),
    [
        ([b"a\nb\n"], ["a", "b"], []),
        ([b"a", b"b\nc"], ["ab"], ["c"]),
        ([b"crlf\r\n"], ["crlf"], []),
        ([b" 10%\r 50%\r100%\n"], ["100%"], []),
        ([b"bar\r\r\n"], ["bar"], []),
        ([b"\n\n"], ["", ""], []),
        ([b"caf\xc3", b"\xa9\n"], ["caf\u00e9"], []),
        ([b"bad \xff byte\n"], ["bad \ufffd byte"], []),
        ([b"x" * (MAX_LINE + 5) + b"\n"], ["x" * MAX_LINE, "xxxxx"], []),
        ([b"y" * MAX_LINE, b"y" * 3], ["y" * MAX_LINE], ["yyy"]),
    ],
)
def test_lines(chunks: list[bytes], lines: list[str], rest: list[str]) -> None:
    cutter = Lines()
    seen = [line for chunk in chunks for line in cutter.feed(chunk)]
    assert (seen, cutter.flush()) == (lines, rest)


@pytest.mark.parametrize(
    "report",
    [
        Progress(0, None),
        Progress(1 << 40, 1 << 41),
        End(),
        End(then=Then.KEXEC),
        End(error="disk too small: 2 GiB image, 1 GiB disk", exit_code=None),
        End(error="exited with code 3", exit_code=3),
    ],
)
def test_reports_round_trip(report: Report) -> None:
    data = encode(report)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert decode(data.rstrip(b"\n")) == report


@pytest.mark.parametrize(
    "line", [b"", b"not json", b"[]", b'{"then": "dance"}', b'{"progress": 3}']
)
def test_garbage_is_no_report(line: bytes) -> None:
    assert decode(line) is None
