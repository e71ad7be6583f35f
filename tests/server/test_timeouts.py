"""global_timeout, enforced by the server from the first action's start: on the calls
that touch the workflow, and by the background check when nobody calls."""

from __future__ import annotations

import time

from agent.provision import wire
from agent.provision.wire import ActionState as A
from agent.provision.wire import NextKind
from tests.server.fleet import Fleet, action


def _wait_for(run_state: object, want: str, seconds: float = 15.0) -> str:
    deadline = time.monotonic() + seconds
    state = ""
    while time.monotonic() < deadline:
        state = run_state()  # type: ignore[operator]
        if state == want:
            return state
        time.sleep(0.2)
    return state


def test_a_heartbeat_past_global_timeout_is_told_to_cancel(fleet: Fleet) -> None:
    run = fleet.run(action("slow"), action("never"), global_timeout=1)
    spec = run.next_action()
    assert run.state() == "PENDING"  # the clock starts with the first action, not before
    run.machine.report(spec, A.RUNNING)
    time.sleep(1.2)
    beat = run.machine.heartbeat(spec, 1, 10)
    assert beat.cancel and "global_timeout of 1 s" in beat.message
    view = run.view()
    assert view["state"] == "TIMEOUT"
    slow, never = view["actions"]
    assert slow["state"] == "TIMEOUT" and slow["reports"][-1]["by_server"]
    assert never["state"] == "PENDING"
    # the worker, cancelled, reports its own end of the attempt: recorded, nothing changes
    late = run.machine.report(spec, A.FAILED, "cancelled")
    assert late.stored and late.workflow_state is wire.WorkflowState.TIMEOUT
    assert run.machine.next().kind is NextKind.FAILED


def test_the_background_check_times_out_a_silent_workflow(fleet: Fleet) -> None:
    run = fleet.run(action("slow"), global_timeout=1)
    run.machine.report(run.next_action(), A.RUNNING)
    assert _wait_for(run.state, "TIMEOUT") == "TIMEOUT"  # with no machine call at all
    assert "global_timeout" in run.view()["message"]


def test_zero_global_timeout_means_none(fleet: Fleet) -> None:
    run = fleet.run(action("slow"), global_timeout=0)
    spec = run.next_action()
    run.machine.report(spec, A.RUNNING)
    time.sleep(1.2)
    assert not run.machine.heartbeat(spec).cancel
    assert run.state() == "RUNNING"
