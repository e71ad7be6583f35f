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
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match

from agent.provision import wire
from server.api.wire_models import Problem
from server.errors import BadToken, ServerError
from server.store import tokens
from server.tokens import bearer, token_hash

log = logging.getLogger("metalinit.server")

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": what}
    for status, what in (
        (400, "the body is not JSON"),
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


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route takes at this path: Starlette's own 405 names only the
    methods of the first route that matched the path, and FastAPI has a route per method."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _token_refusal(request: Request) -> ServerError | None:
    """For a machine call whose body did not validate: the 401/403 its token earns, if
    any. (A machine call checks its token inside its own transaction, after the body.)"""
    path = request.url.path
    if not path.startswith(wire.PREFIX) or path == wire.LOOKUP:
        return None
    token = bearer(request.headers.get("authorization"))
    if token is None:
        return BadToken("no token: send Authorization: Bearer TOKEN (the token lookup gave)")
    store = request.app.state.store
    try:
        store.read(lambda conn: tokens.authenticate(conn, token_hash(token)))
    except ServerError as refusal:
        return refusal
    return None


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
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        refused = await run_in_threadpool(_token_refusal, request)
        if refused is not None:  # who calls is answered before what they sent
            return await _server_error(request, refused)
        return _problem(422, wire.Problem(validation_detail(err), "invalid"))

    @app.exception_handler(wire.WireError)
    async def _wire_invalid(_request: Request, err: wire.WireError) -> JSONResponse:
        return _problem(422, wire.Problem(str(err), "invalid"))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, err: HTTPException) -> JSONResponse:
        headers = dict(err.headers or {})
        if err.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(app, request))
        return _problem(err.status_code, wire.Problem(str(err.detail), "http"), headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=err)
        return _problem(
            500, wire.Problem("internal server error; the server's log says more", "internal")
        )
