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


async def machine_token(credentials: Credentials) -> str:
    """The hash of the machine token sent; the call checks it in its own transaction.
    Async because it does no I/O: a sync dependency costs a threadpool round trip of its
    own, a queue wait in front of the call's under load."""
    return _digest(credentials, "the token lookup gave this boot")


def machine(request: Request, digest: Annotated[str, Depends(machine_token)]) -> tokens.Machine:
    return store_of(request).read(lambda conn: tokens.authenticate(conn, digest))


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


MachineToken = Annotated[str, Depends(machine_token)]
Machine = Annotated[tokens.Machine, Depends(machine)]
Admin = Depends(admin)
