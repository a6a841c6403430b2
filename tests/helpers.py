"""Small helpers for tests: direct SQL to set up and inspect state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass
class SendEmail:
    to: str
    subject: str


def count_jobs(db: psycopg.Connection[Any]) -> int:
    return int(db.execute("SELECT count(*) AS n FROM awa.jobs").fetchone()["n"])


def job_state(db: psycopg.Connection[Any], job_id: int) -> str | None:
    row = db.execute(
        "SELECT state::text AS state FROM awa.jobs WHERE id = %s", (job_id,)
    ).fetchone()
    return None if row is None else str(row["state"])


def unique_claims(db: psycopg.Connection[Any]) -> dict[bytes, int]:
    rows = db.execute("SELECT unique_key, job_id FROM awa.job_unique_claims").fetchall()
    return {bytes(r["unique_key"]): r["job_id"] for r in rows}


_COLUMNS = (
    "id, kind, queue, args, {state}, priority, attempt, max_attempts, run_at, heartbeat_at,"
    " deadline_at, attempted_at, {finalized}, created_at, errors, metadata, tags, unique_key,"
    " unique_states, callback_id, callback_timeout_at, callback_filter, callback_on_complete,"
    " callback_on_fail, callback_transform, run_lease, progress, concurrency_key, concurrency_limit"
)


def force_failed(db: psycopg.Connection[Any], job_id: int) -> None:
    """Move a hot or scheduled job to failed, as an exhausted worker would."""
    columns = _COLUMNS.format(state="'failed'", finalized="now()")
    db.execute(
        "WITH d AS (DELETE FROM awa.jobs_hot WHERE id = %(id)s RETURNING *),"
        " s AS (DELETE FROM awa.scheduled_jobs WHERE id = %(id)s RETURNING *)"
        f" INSERT INTO awa.jobs_terminal SELECT {columns}"
        " FROM (SELECT * FROM d UNION ALL SELECT * FROM s) AS r",
        {"id": job_id},
    )


def force_running(db: psycopg.Connection[Any], job_id: int) -> int:
    """Claim an available job as a worker would; return its new run_lease."""
    row = db.execute(
        "UPDATE awa.jobs_hot SET state = 'running', attempt = attempt + 1,"
        " run_lease = run_lease + 1, attempted_at = now(), heartbeat_at = now()"
        " WHERE id = %s AND state = 'available' RETURNING run_lease",
        (job_id,),
    ).fetchone()
    assert row is not None
    return int(row["run_lease"])
