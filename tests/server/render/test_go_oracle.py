"""The table checked against Go itself: Debian's Go toolchain builds oracle/main.go
(text/template + Sprig's hermetic map + Tinkerbell's four functions, missingkey=error) and
renders every case; its answer must be the table's, except where a case says it differs.

This is what keeps table.py honest: expectations are Go's, not ours.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.server.render.table import CASES, DATA

ORACLE = Path(__file__).with_name("oracle") / "main.go"
GOPATH = "/usr/share/gocode"  # Debian's golang-*-dev packages (./dev installs them)


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("go") is None or not Path(GOPATH, "src/github.com/Masterminds/sprig").is_dir():
        pytest.skip(
            "needs Debian's golang-go, golang-github-masterminds-sprig-dev and "
            "golang-github-ghodss-yaml-dev (./dev setup installs them)"
        )
    work = tmp_path_factory.mktemp("oracle")
    shutil.copy(ORACLE, work / "main.go")
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": GOPATH,
        "GOCACHE": str(work / "cache"),
        "GOFLAGS": "",
    }
    subprocess.run(
        ["go", "build", "-o", str(work / "oracle"), "."],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    return work / "oracle"


def _normalise(answer: str) -> tuple[str, int | None, str]:
    if answer.startswith("OK:"):
        return ("ok", None, answer[3:])
    found = re.match(r'ERR:template: t:(\d+)(?::\d+)?: (?:executing "t" )?(.*)$', answer, re.S)
    assert found, answer
    return ("err", int(found.group(1)), found.group(2))


def test_table_is_what_go_renders(oracle: Path) -> None:
    checked = [c for c in CASES if not c.differs]
    payload = json.dumps([{"t": c.template, "d": DATA} for c in checked])
    run = subprocess.run([str(oracle)], input=payload, capture_output=True, text=True, check=True)
    answers = json.loads(run.stdout)
    wrong = []
    for case, answer in zip(checked, answers, strict=True):
        expected = ("ok", None, case.output) if case.err is None else ("err", *case.err)
        if _normalise(answer) != expected:
            wrong.append(f"{case.template!r}: table says {expected}, Go says {answer!r}")
    assert not wrong, "\n".join(wrong)
    assert len(checked) > 250
