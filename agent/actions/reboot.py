"""`reboot`: nothing to prepare; the worker reboots once it has reported SUCCESS."""

from __future__ import annotations

from agent.actions import ActionContext, Then


def run(ctx: ActionContext) -> Then:
    ctx.say("reboot: the machine restarts once this action is reported")
    return Then.REBOOT
