"""Errors as HTTP answers: a status, a short code and a message safe to show.

Expected failures (bad input, a missing job, a job in the wrong state) carry
their message to the client; anything else becomes a generic 500 whose
details stay in the server's log.
"""

from __future__ import annotations

from typing import Any

import awa


class Problem(Exception):
    """An HTTP error answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def bad_request(message: str) -> Problem:
    return Problem(400, "bad_request", message)


def from_awa_error(exc: awa.AwaError) -> Problem:
    """The answer for an error raised by the client."""
    message = awa.redact_url(str(exc))
    if isinstance(exc, awa.ValidationError):
        return Problem(400, "bad_request", message)
    if isinstance(exc, awa.JobNotFound | awa.CronNotFound):
        return Problem(404, "not_found", message)
    if isinstance(exc, awa.InvalidStateError | awa.UniqueConflict | awa.QueueFull):
        return Problem(409, "conflict", message)
    if isinstance(exc, awa.SchemaNotMigrated):
        return Problem(503, "schema", "the awa schema is missing or too new: run `awa migrate`")
    if isinstance(exc, awa.ConnectionFailed | awa.PoolTimeout):
        return Problem(503, "database_unavailable", "the database is unavailable; see the log")
    return Problem(500, "internal", "internal error; see the server log")


INTERNAL = Problem(500, "internal", "internal error; see the server log")
