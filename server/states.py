"""The rules for state changes, as data and pure functions; the store applies them.

An action's attempt is reported RUNNING, then SUCCESS, FAILED or TIMEOUT. A report is
judged against what is stored for that action:

- its attempt is the current one and the change is in `ACTION_MOVES`: apply it;
- the server ended that attempt itself (the machine restarted, or global_timeout) and the
  worker's own end of it arrives late: record it, change nothing;
- anything else contradicts what is stored: 409, with the reason.

(The same report twice never reaches the judge: (action, attempt, state) is looked up
first and answered "already stored".)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from agent.provision.wire import ActionState, WorkflowState

A = ActionState

# (stored state, reported state) of the current attempt → allowed. SUCCESS etc. straight
# from PENDING covers a worker whose RUNNING report was refused for a reason now gone.
ACTION_MOVES: frozenset[tuple[ActionState, ActionState]] = frozenset(
    {
        (A.PENDING, A.RUNNING),
        (A.PENDING, A.SUCCESS),
        (A.PENDING, A.FAILED),
        (A.PENDING, A.TIMEOUT),
        (A.RUNNING, A.SUCCESS),
        (A.RUNNING, A.FAILED),
        (A.RUNNING, A.TIMEOUT),
    }
)

RESTARTED = "machine restarted during the action"


class Verdict(enum.Enum):
    APPLY = "apply"
    RECORD = "record"  # store the report as history, change no state
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str = ""


def judge(
    stored: ActionState,
    stored_attempt: int,
    workflow: WorkflowState,
    reported: ActionState,
    attempt: int,
    *,
    ended_by_server: bool,
) -> Judgement:
    if attempt > stored_attempt:
        return Judgement(Verdict.CONFLICT, f"attempt {attempt} has not been served yet")
    if attempt < stored_attempt:
        return Judgement(
            Verdict.CONFLICT,
            f"attempt {attempt} is over; attempt {stored_attempt} is the current one",
        )
    if stored.ended and ended_by_server and reported.ended:
        return Judgement(Verdict.RECORD)
    if workflow.ended and not stored.ended:
        return Judgement(Verdict.CONFLICT, f"the workflow has ended {workflow.value}")
    if (stored, reported) not in ACTION_MOVES:
        return Judgement(
            Verdict.CONFLICT, f"the action is {stored.value}; it cannot become {reported.value}"
        )
    return Judgement(Verdict.APPLY)


def retries_left(attempt: int, first_attempt: int, retries: int) -> bool:
    """After attempt `attempt` failed: may the action run again?"""
    return attempt - first_attempt < retries


def workflow_end(failed: ActionState) -> WorkflowState:
    """A failed action's last attempt ends its workflow with the same word."""
    return WorkflowState.TIMEOUT if failed is ActionState.TIMEOUT else WorkflowState.FAILED


def overdue(
    state: WorkflowState, started_at: float | None, global_timeout: int, now: float
) -> bool:
    return (
        state is WorkflowState.RUNNING
        and global_timeout > 0
        and started_at is not None
        and now >= started_at + global_timeout
    )
