"""scalars.py checked against Go: Debian's Go builds oracle/main.go (tink's workflow structs,
decoded with gopkg.in/yaml.v3 as tink decodes them) and reads every case."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.server.tinkerbell.scalars import ENVIRONMENT, TIMEOUT, TIMEOUT_REFUSED
from tests.server.tinkerbell.test_yaml_scalars import workflow

GOPATH = "/usr/share/gocode"


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("go") is None or not Path(GOPATH, "src/gopkg.in/yaml.v3").is_dir():
        pytest.skip(
            "needs Debian's golang-go and golang-gopkg-yaml.v3-dev (./dev setup installs them)"
        )
    work = tmp_path_factory.mktemp("yaml-oracle")
    shutil.copy(Path(__file__).with_name("oracle") / "main.go", work / "main.go")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": GOPATH, "GOCACHE": str(work / "cache")}
    subprocess.run(
        ["go", "build", "-o", str(work / "oracle"), "."],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    return work / "oracle"


def _go(oracle: Path, documents: list[str]) -> list[dict[str, object]]:
    run = subprocess.run(
        [str(oracle)], input=json.dumps(documents), capture_output=True, text=True, check=True
    )
    return list(json.loads(run.stdout))


def test_environment_table_is_what_yaml_v3_reads(oracle: Path) -> None:
    answers = _go(oracle, [workflow(env_value=w) for w, _ in ENVIRONMENT])
    for (written, text), answer in zip(ENVIRONMENT, answers, strict=True):
        action = answer["ok"]["tasks"][0]["actions"][0]  # type: ignore[index]
        assert action["environment"] == {"VALUE": text}, written


def test_timeout_table_is_what_yaml_v3_reads(oracle: Path) -> None:
    answers = _go(oracle, [workflow(timeout=w) for w, _ in TIMEOUT])
    for (written, seconds), answer in zip(TIMEOUT, answers, strict=True):
        assert answer["ok"]["tasks"][0]["actions"][0]["timeout"] == seconds, written  # type: ignore[index]
    refused = _go(oracle, [workflow(timeout=w) for w in TIMEOUT_REFUSED])
    assert all("err" in answer for answer in refused), refused
