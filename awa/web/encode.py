"""Plain JSON values from awa's records, for the API and the CLI's ``--json``."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import attrs

import awa


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data: attrs records become objects, datetimes
    ISO 8601 strings, bytes hex, enums their value, sets sorted lists."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, awa.JobPage):
        return {"jobs": [jsonable(j) for j in value.jobs], "next_cursor": value.next_cursor}
    if attrs.has(type(value)):
        return {f.name: jsonable(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def job_summary(job: awa.Job) -> dict[str, Any]:
    """The columns of a jobs table."""
    return {
        "id": job.id,
        "state": job.state.value,
        "kind": job.kind,
        "queue": job.queue,
        "priority": job.priority,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "run_at": jsonable(job.run_at),
        "created_at": jsonable(job.created_at),
        "finalized_at": jsonable(job.finalized_at),
        "tags": list(job.tags),
        "last_error": job.errors[-1].get("message") if job.errors else None,
    }
