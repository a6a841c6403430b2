"""Turning psycopg's errors into awa's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors as pg_errors

from awa.errors import (
    AwaError,
    ConnectionFailed,
    DatabaseError,
    SchemaNotMigrated,
    UniqueConflict,
)

UNIQUE_CONSTRAINT = "job_unique_claims_pkey"
_EXISTING = re.compile(r"existing_job_id=(\d+)")
# SQLSTATEs meaning "the awa schema (or part of it) is not there".
_MISSING_SCHEMA = {"42P01", "3F000", "42883", "42704", "42703"}
_MIGRATE_HINT = "the database has no (up-to-date) awa schema: run `awa migrate` or client.migrate()"


def translate(exc: psycopg.Error) -> AwaError:
    """The awa error that best describes a psycopg error."""
    sqlstate = exc.sqlstate
    message = str(exc).strip()
    diag = exc.diag if isinstance(exc, psycopg.DatabaseError) else None
    if isinstance(exc, pg_errors.UniqueViolation) and diag is not None:
        constraint = diag.constraint_name
        if constraint == UNIQUE_CONSTRAINT:
            found = _EXISTING.search(diag.message_detail or "")
            return UniqueConflict(
                f"a job with the same unique key exists (job {found[1] if found else '?'})",
                constraint=constraint,
                existing_job_id=int(found[1]) if found else None,
            )
    if sqlstate in _MISSING_SCHEMA and "awa" in message:
        return SchemaNotMigrated(f"{_MIGRATE_HINT} ({message.splitlines()[0]})")
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
