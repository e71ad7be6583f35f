"""Runs one attempt of one action in a child process the worker can kill.

Contract (the runner is being written; this stub fixes its signature):
`run_action(ctx, timeout)` forks a child into a fresh cgroup v2 group, runs the built-in
action the image names (`agent.actions.table`) or the image as a container
(`agent.container`), sends every line the action prints to `ctx.say` and its progress to
`ctx.progress`, kills the whole group when `timeout` seconds pass or `ctx.cancelled` is set,
and returns how the attempt ended. It never raises for a failing action.
"""

from __future__ import annotations

from agent.actions import ActionContext, ActionOutcome


def run_action(ctx: ActionContext, timeout: float) -> ActionOutcome:
    raise NotImplementedError("the action runner is not written yet")
