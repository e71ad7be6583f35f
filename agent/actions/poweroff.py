"""`poweroff`: nothing to prepare; the worker powers off once it has reported SUCCESS."""

from __future__ import annotations

from agent.actions import ActionContext, Then


def run(ctx: ActionContext) -> Then:
    ctx.say("poweroff: the machine powers off once this action is reported")
    return Then.POWEROFF
