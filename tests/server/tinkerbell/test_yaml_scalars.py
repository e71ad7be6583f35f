"""Rendered YAML read as Go's yaml.v3 reads it into Tinkerbell's structs (scalars.py)."""

from __future__ import annotations

import pytest

from server.tinkerbell import TinkerbellError, read_workflow
from tests.server.tinkerbell.scalars import ENVIRONMENT, TIMEOUT, TIMEOUT_REFUSED


def workflow(env_value: str = "x", timeout: str = "60") -> str:
    return (
        "name: w\n"
        "tasks:\n"
        "  - name: t\n"
        "    worker: aa:bb:cc:dd:ee:ff\n"
        "    actions:\n"
        "      - name: a\n"
        "        image: alpine\n"
        f"        timeout: {timeout}\n"
        "        environment:\n"
        f"          VALUE: {env_value}\n"
    )


@pytest.mark.parametrize(("written", "text"), ENVIRONMENT)
def test_environment_value_is_the_text_as_written(written: str, text: str) -> None:
    action = read_workflow(workflow(env_value=written)).tasks[0].actions[0]
    assert action.environment == {"VALUE": text}


@pytest.mark.parametrize(("written", "seconds"), TIMEOUT)
def test_timeout_reads_as_a_go_int(written: str, seconds: int) -> None:
    assert read_workflow(workflow(timeout=written)).tasks[0].actions[0].timeout == seconds


@pytest.mark.parametrize("written", TIMEOUT_REFUSED)
def test_timeout_that_is_not_a_number_is_refused_with_its_line(written: str) -> None:
    with pytest.raises(TinkerbellError) as caught:
        read_workflow(workflow(timeout=written))
    assert caught.value.line == 8
    assert caught.value.field == "tasks[0].actions[0].timeout"


def test_timeout_that_is_not_whole_is_refused() -> None:
    with pytest.raises(TinkerbellError, match="whole number"):
        read_workflow(workflow(timeout="1.5"))


def test_task_environment_is_under_the_action_and_volumes_come_first() -> None:
    text = (
        "name: w\ntasks:\n  - name: t\n    worker: m\n"
        "    volumes: [/dev:/dev, /run:/run]\n"
        "    environment: {A: task, B: task}\n"
        "    actions:\n"
        "      - name: one\n        image: alpine\n"
        "        volumes: [/data:/data]\n"
        "        environment: {B: action, C: '1'}\n"
        "      - name: two\n        image: alpine\n"
    )
    one, two = read_workflow(text).tasks[0].actions
    assert one.environment == {"A": "task", "B": "action", "C": "1"}
    assert one.volumes == ("/dev:/dev", "/run:/run", "/data:/data")
    assert two.environment == {"A": "task", "B": "task"}
    assert two.volumes == ("/dev:/dev", "/run:/run")


def test_merge_keys_and_anchors_apply() -> None:
    text = (
        "name: w\ntasks:\n  - name: t\n    worker: m\n    actions:\n"
        "      - &base\n        name: one\n        image: alpine\n        environment: &env {A: '1'}\n"
        "      - <<: *base\n        name: two\n        environment:\n          <<: *env\n          B: '2'\n"
    )
    one, two = read_workflow(text).tasks[0].actions
    assert (one.name, two.name, two.image) == ("one", "two", "alpine")
    assert two.environment == {"A": "1", "B": "2"}


def test_namespaces_pid_wins_over_pid_and_network_is_kept() -> None:
    text = (
        "name: w\ntasks:\n  - name: t\n    worker: m\n    actions:\n"
        "      - name: k\n        image: alpine\n        pid: container\n"
        "        namespaces: {pid: host, network: host}\n"
        "        on-timeout: [echo, late]\n        on-failure: [echo, failed]\n"
    )
    action = read_workflow(text).tasks[0].actions[0]
    assert (action.pid, action.network) == ("host", "host")
    assert (action.on_timeout, action.on_failure) == (("echo", "late"), ("echo", "failed"))
