"""The server's one exception base. Each error carries the HTTP status and the wire code
it is answered with, and a message that says what was wrong and what to do."""

from __future__ import annotations

from agent.provision import wire


class ServerError(Exception):
    status = 400
    code = ""

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after

    def problem(self) -> wire.Problem:
        return wire.Problem(self.detail, self.code, self.retry_after)


class BadRequest(ServerError):
    status = 422
    code = "invalid"


class BadToken(ServerError):
    status = 401
    code = wire.BAD_TOKEN


class Forbidden(ServerError):
    status = 403
    code = wire.FORBIDDEN


class NotFound(ServerError):
    status = 404
    code = "not_found"


class UnknownMachine(NotFound):
    code = wire.UNKNOWN_MACHINE


class Conflict(ServerError):
    status = 409
    code = wire.CONFLICT


class TooLarge(ServerError):
    status = 413
    code = "too_large"


class Busy(ServerError):
    """The database stayed locked or kept deadlocking: the caller should try again."""

    status = 503
    code = "busy"
