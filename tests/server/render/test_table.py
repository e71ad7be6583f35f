"""The renderer against its table (table.py): each case's output, or its error's line and
message."""

from __future__ import annotations

import pytest

from server.gotemplate import TemplateError, render
from tests.server.render.table import CASES, DATA, C


@pytest.mark.parametrize("case", CASES, ids=[c.template[:60] for c in CASES])
def test_renders_as_go_does(case: C) -> None:
    if case.err is None:
        assert render(case.template, DATA) == case.output
        return
    with pytest.raises(TemplateError) as caught:
        render(case.template, DATA)
    line, message = case.err
    assert (caught.value.line, caught.value.message) == (line, message)
    assert str(caught.value).startswith(f"line {line}")
