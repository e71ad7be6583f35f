"""The ASGI app: routers, the one error shape, a body-size cap, and the background
check that times out workflows past their global_timeout (every server process runs it;
the workflow row lock makes one of them do each)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from server.api import admin, artifacts, ipxe, machine, metadata, problems
from server.store import Store
from server.store.machine import Timings
from server.store.transitions import expire_overdue

log = logging.getLogger("metalinit.server")


@dataclass(frozen=True)
class AppConfig:
    artifacts: Path
    timings: Timings = field(default_factory=Timings)
    sweep_seconds: float = 2.0
    body_limit: int = 4 * 1024 * 1024  # every request except artifact uploads
    pxe: bool = False  # the iPXE routes (serve --pxe)


async def _sweep(store: Store, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            count = await run_in_threadpool(store.write, lambda c: expire_overdue(c, time.time()))
            if count:
                log.info("global_timeout: %d workflow(s) timed out", count)
        except Exception as err:  # the check runs again; a server must not stop over it
            log.warning("global_timeout check failed: %s", err)


def create_app(store: Store, config: AppConfig) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(_sweep(store, config.sweep_seconds))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    app = FastAPI(
        title="metalinit provisioning server",
        version="1",
        summary="hardware, Tinkerbell templates and workflows, and the machine API",
        lifespan=lifespan,
        max_body_size=config.body_limit,
    )
    app.state.store = store
    app.state.timings = config.timings
    app.state.artifacts = config.artifacts
    problems.install(app)
    app.include_router(machine.router)
    app.include_router(admin.router)
    app.include_router(artifacts.router)
    app.include_router(metadata.router)
    if config.pxe:
        app.include_router(ipxe.router)

    @app.get("/healthz", tags=["status"], summary="the server answers and its database too")
    def healthz() -> dict[str, str]:
        store.read(lambda conn: conn.exec_driver_sql("SELECT 1").scalar())
        return {"status": "ok"}

    return app
