"""Turning psycopg's errors into awa's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from awa.errors import (
    AwaError,
    ConnectionFailed,
    DatabaseError,
    SchemaNotMigrated,
    UniqueConflict,
)

UNIQUE_CONSTRAINT = "job_unique_claims_pkey"
_UNIQUE_VIOLATION = "23505"
_EXISTING = re.compile(r"existing_job_id=(\d+)")
# SQLSTATEs meaning "the awa schema (or part of it) is not there".
_MISSING_SCHEMA = {"42P01", "3F000", "42883", "42704", "42703"}
_MIGRATE_HINT = "the database has no (up-to-date) awa schema: run `awa migrate` or client.migrate()"


def classify(
    sqlstate: str | None, constraint: str | None, detail: str | None, message: str
) -> AwaError | None:
    """The awa error a server error means (whatever the driver), or None.

    Used for psycopg's errors here and for other drivers' by ``awa.bridge``.
    """
    if sqlstate == _UNIQUE_VIOLATION and constraint == UNIQUE_CONSTRAINT:
        found = _EXISTING.search(detail or "")
        return UniqueConflict(
            f"a job with the same unique key exists (job {found[1] if found else '?'})",
            constraint=constraint,
            existing_job_id=int(found[1]) if found else None,
        )
    if sqlstate in _MISSING_SCHEMA and "awa" in message:
        return SchemaNotMigrated(f"{_MIGRATE_HINT} ({message.splitlines()[0]})")
    return None


def translate(exc: psycopg.Error) -> AwaError:
    """The awa error that best describes a psycopg error."""
    sqlstate = exc.sqlstate
    message = str(exc).strip()
    diag = exc.diag if isinstance(exc, psycopg.DatabaseError) else None
    known = classify(
        sqlstate,
        diag.constraint_name if diag is not None else None,
        diag.message_detail if diag is not None else None,
        message,
    )
    if known is not None:
        return known
    if isinstance(exc, psycopg.OperationalError) and (
        sqlstate is None or sqlstate.startswith(("08", "57P"))
    ):
        return ConnectionFailed(
            message.splitlines()[0] if message else "connection failed", sqlstate=sqlstate
        )
    if isinstance(exc, psycopg.InterfaceError):
        return ConnectionFailed(message or "connection is not usable", sqlstate=sqlstate)
    return DatabaseError(message, sqlstate=sqlstate)


@contextmanager
def translating() -> Iterator[None]:
    """Re-raise psycopg errors inside the block as awa errors."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc) from exc
