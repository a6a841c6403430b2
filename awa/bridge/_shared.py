"""What every bridge driver shares: rows in awa's shape, errors in awa's terms.

Drivers return job rows in their own types: asyncpg and Django hand back
``jsonb`` as text, asyncpg a ``BitString`` for the unique-state mask and its
own UUID class. ``normalize_row`` makes them what ``job_from_row`` expects.
Database errors that mean something to awa (a taken unique key, a missing
schema) become awa's errors whatever driver raised them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from awa._db.errors import classify
from awa.errors import AwaError, ValidationError

JSON_COLUMNS = ("args", "metadata", "errors", "progress")

_COPY = re.compile(
    r"^COPY\s+(?P<schema>\w+)\.(?P<table>\w+)\s*\((?P<columns>[^)]*)\)\s+FROM STDIN$"
)


def normalize_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row from any driver, with awa's value types."""
    out = dict(row)
    for name in JSON_COLUMNS:
        value = out.get(name)
        if isinstance(value, str | bytes):
            out[name] = json.loads(value)
    mask = out.get("unique_states")
    if mask is not None and not isinstance(mask, str):
        # asyncpg's BitString: as_string() groups the bits ("1111 0000")
        out["unique_states"] = "".join(c for c in mask.as_string() if c in "01")
    callback = out.get("callback_id")
    if callback is not None and type(callback) is not uuid.UUID:
        out["callback_id"] = uuid.UUID(str(callback))
    key = out.get("unique_key")
    if key is not None and not isinstance(key, bytes):
        out["unique_key"] = bytes(key)
    return out


def copy_target(text: str) -> tuple[str, str, list[str]]:
    """``(schema, table, columns)`` of one of awa's ``COPY ... FROM STDIN`` queries."""
    match = _COPY.match(" ".join(text.split()))
    if match is None:  # pragma: no cover - awa's own queries all match
        raise AssertionError(f"not a COPY ... FROM STDIN statement: {text!r}")
    columns = [c.strip() for c in match["columns"].split(",")]
    return match["schema"], match["table"], columns


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The error and the driver errors it wraps (SQLAlchemy's ``.orig``, causes)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        pending.extend([orig if isinstance(orig, BaseException) else None, current.__cause__])


def translate_error(exc: BaseException) -> AwaError | None:
    """The awa error a driver's database error stands for, or None for "keep it".

    Reads the SQLSTATE, constraint and detail the way psycopg (``diag``) and
    asyncpg (attributes) expose them, looking through the wrappers of
    SQLAlchemy and Django (which may carry the SQLSTATE but not the constraint).
    """
    for error in _chain(exc):
        sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if not isinstance(sqlstate, str):
            continue
        diag = getattr(error, "diag", None)
        constraint = getattr(diag, "constraint_name", None) or getattr(
            error, "constraint_name", None
        )
        detail = getattr(diag, "message_detail", None) or getattr(error, "detail", None)
        known = classify(sqlstate, constraint, detail, str(error).strip())
        if known is not None:
            return known
    return None


def unsupported(conn: object, *, want_async: bool) -> ValidationError:
    """The error for a connection no bridge driver takes."""
    name = f"{type(conn).__module__}.{type(conn).__qualname__}"
    if want_async:
        supported = (
            "psycopg.AsyncConnection, asyncpg.Connection, SQLAlchemy AsyncConnection or"
            " AsyncSession"
        )
        hint = " (for a sync connection, use insert_job_sync)"
    else:
        supported = "psycopg.Connection, SQLAlchemy Connection or Session, or a Django connection"
        hint = " (for an async connection, use `await insert_job(...)`)"
    return ValidationError(f"conn: expected {supported}, got {name}{hint}", field="conn")
