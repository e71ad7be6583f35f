"""Every error as one `Problem` body (`detail`, `code`, `retry_after`), whatever raised it:
our own `ServerError`s, FastAPI's request validation, routing's 404/405, and the
unexpected (500, logged with its traceback, never with a request body)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from agent.provision import wire
from server.api.wire_models import Problem
from server.errors import ServerError

log = logging.getLogger("metalinit.server")

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": what}
    for status, what in (
        (401, "no token, or not a valid one"),
        (403, "a token of the wrong kind, or another machine's workflow"),
        (404, "not found (for lookup: an unknown machine, retry later)"),
        (409, "contradicts what is stored"),
        (413, "too large"),
        (422, "the request does not have the shape this API defines"),
        (503, "the database is busy; retry"),
    )
}


def _problem(
    status: int, problem: wire.Problem, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(problem.to_json(), status_code=status, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_detail(err: RequestValidationError) -> str:
    messages = []
    for item in err.errors()[:5]:
        messages.append(f"{_location(tuple(item.get('loc', ())))}: {item.get('msg', 'invalid')}")
    return "; ".join(messages)


def install(app: FastAPI) -> None:
    @app.exception_handler(ServerError)
    async def _server_error(_request: Request, err: ServerError) -> JSONResponse:
        headers = {}
        if err.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(err.retry_after)))
        if err.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return _problem(err.status, err.problem(), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        return _problem(422, wire.Problem(validation_detail(err), "invalid"))

    @app.exception_handler(wire.WireError)
    async def _wire_invalid(_request: Request, err: wire.WireError) -> JSONResponse:
        return _problem(422, wire.Problem(str(err), "invalid"))

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, err: HTTPException) -> JSONResponse:
        return _problem(err.status_code, wire.Problem(str(err.detail), "http"), err.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=err)
        return _problem(
            500, wire.Problem("internal server error; the server's log says more", "internal")
        )
