"""Tokens: per-boot machine tokens and admin tokens are different kinds, told apart by
their prefix and by the table that holds their hash. The server stores only hashes; a
token is 32 random bytes, so one SHA-256 is enough (no password stretching needed)."""

from __future__ import annotations

import hashlib
import secrets

MACHINE_PREFIX = "mt_"
ADMIN_PREFIX = "at_"
TOKEN_BYTES = 32
MIN_ADMIN_TOKEN_CHARS = 32  # an operator-written admin-token file shorter than this is refused


def new_machine_token() -> str:
    return MACHINE_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def new_admin_token() -> str:
    return ADMIN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return None
    return value
