"""Runs the boot stages in order: each logged with the uptime at its start and its duration;
any exception, in any stage, ends at the rescue shell."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import NoReturn

from agent.context import Context
from agent.rescue import Failure, rescue

Stage = Callable[[Context], None]


def run(ctx: Context, stages: Sequence[Stage]) -> NoReturn:
    for stage in stages:
        ctx.stage = stage.__name__
        started = time.monotonic()
        ctx.log.info(f"stage {ctx.stage}")
        try:
            stage(ctx)
        except BaseException as err:  # PID 1 must survive anything, even SystemExit
            rescue(ctx, Failure(ctx.stage, err))
        ctx.log.debug(f"stage {ctx.stage} took {time.monotonic() - started:.3f} s")
    rescue(ctx, None, "every stage finished but nothing was left running")
