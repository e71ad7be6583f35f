"""The report judge and the retry/timeout rules, as a table."""

from __future__ import annotations

import pytest

from agent.provision.wire import ActionState as A
from agent.provision.wire import WorkflowState as W
from server.states import Verdict, judge, overdue, retries_left, workflow_end

APPLY, RECORD, CONFLICT = Verdict.APPLY, Verdict.RECORD, Verdict.CONFLICT


@pytest.mark.parametrize(
    ("stored", "at", "workflow", "reported", "attempt", "by_server", "verdict"),
    [
        (A.PENDING, 1, W.PENDING, A.RUNNING, 1, False, APPLY),
        (A.PENDING, 1, W.RUNNING, A.SUCCESS, 1, False, APPLY),
        (A.RUNNING, 1, W.RUNNING, A.SUCCESS, 1, False, APPLY),
        (A.RUNNING, 1, W.RUNNING, A.FAILED, 1, False, APPLY),
        (A.RUNNING, 1, W.RUNNING, A.TIMEOUT, 1, False, APPLY),
        (A.RUNNING, 1, W.RUNNING, A.PENDING, 1, False, CONFLICT),
        (A.SUCCESS, 1, W.RUNNING, A.FAILED, 1, False, CONFLICT),
        (A.SUCCESS, 1, W.SUCCESS, A.RUNNING, 1, False, CONFLICT),
        (A.PENDING, 2, W.RUNNING, A.SUCCESS, 1, False, CONFLICT),  # an attempt that is over
        (A.PENDING, 1, W.RUNNING, A.RUNNING, 2, False, CONFLICT),  # not served yet
        (A.TIMEOUT, 1, W.TIMEOUT, A.FAILED, 1, True, RECORD),  # cancelled by global_timeout
        (A.FAILED, 1, W.FAILED, A.SUCCESS, 1, True, RECORD),  # after a restart, late
        (A.FAILED, 1, W.FAILED, A.SUCCESS, 1, False, CONFLICT),
        (A.PENDING, 1, W.TIMEOUT, A.RUNNING, 1, False, CONFLICT),  # the workflow has ended
    ],
)
def test_judge(
    stored: A, at: int, workflow: W, reported: A, attempt: int, by_server: bool, verdict: Verdict
) -> None:
    judged = judge(stored, at, workflow, reported, attempt, ended_by_server=by_server)
    assert judged.verdict is verdict
    assert (judged.reason != "") == (verdict is CONFLICT)


@pytest.mark.parametrize(
    ("attempt", "first", "retries", "left"),
    [(1, 1, 0, False), (1, 1, 1, True), (2, 1, 1, False), (3, 3, 1, True), (4, 3, 1, False)],
)
def test_retries_count_from_the_last_workflow_retry(
    attempt: int, first: int, retries: int, left: bool
) -> None:
    assert retries_left(attempt, first, retries) is left


def test_a_timed_out_action_times_the_workflow_out() -> None:
    assert workflow_end(A.TIMEOUT) is W.TIMEOUT
    assert workflow_end(A.FAILED) is W.FAILED


@pytest.mark.parametrize(
    ("state", "started", "timeout", "now", "late"),
    [
        (W.RUNNING, 100.0, 10, 110.0, True),
        (W.RUNNING, 100.0, 10, 109.9, False),
        (W.RUNNING, 100.0, 0, 1e9, False),
        (W.PENDING, None, 10, 1e9, False),
        (W.SUCCESS, 100.0, 10, 1e9, False),
    ],
)
def test_overdue(state: W, started: float | None, timeout: int, now: float, late: bool) -> None:
    assert overdue(state, started, timeout, now) is late
