"""Who is calling: a machine (its per-boot token) or an operator (an admin token).
A token of the other kind is 403, no or an unknown token 401."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.errors import BadToken, Forbidden
from server.store import Store, tokens
from server.tokens import token_hash

scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="a machine token from lookup, or the admin token",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(scheme)]


def _digest(credentials: HTTPAuthorizationCredentials | None, what: str) -> str:
    if credentials is None or not credentials.credentials:
        raise BadToken(f"no token: send Authorization: Bearer TOKEN ({what})")
    return token_hash(credentials.credentials)


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def machine(request: Request, credentials: Credentials) -> tokens.Machine:
    digest = _digest(credentials, "the token lookup gave this boot")
    store = store_of(request)
    caller = store.read(lambda conn: tokens.machine(conn, digest))
    if caller is not None:
        return caller
    if store.read(lambda conn: tokens.is_admin(conn, digest)):
        raise Forbidden("an admin token cannot make machine calls; machines use their own")
    raise BadToken("the token is not valid (did the machine look up again since?): look up again")


def admin(request: Request, credentials: Credentials) -> None:
    digest = _digest(credentials, "the admin token from the server's data directory")
    store = store_of(request)
    if store.read(lambda conn: tokens.is_admin(conn, digest)):
        return
    if store.read(lambda conn: tokens.machine(conn, digest)) is not None:
        raise Forbidden("a machine token cannot make admin calls; use the admin token")
    raise BadToken(
        "the admin token is not valid: take it from admin-token in the server's "
        "data directory, or set METALINIT_TOKEN"
    )


Machine = Annotated[tokens.Machine, Depends(machine)]
Admin = Depends(admin)
