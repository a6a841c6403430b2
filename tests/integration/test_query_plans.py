"""Fenced writes find their rows through the primary key, whatever the
statistics say.

The statistics here are taken while no job runs (as after a bulk insert),
then 1,000 jobs are claimed: a planner that trusted an index partial on
state = 'running' would scan every running job for each write (migration
0004). Checked for the custom plan and for the generic one a prepared
statement ends up with.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

import awa
from awa._sql import Q

pytestmark = [pytest.mark.pg]

RUNNING = 1_000
BATCH = 10
WHOLE_SCANS = ("jobs_hot_heartbeat", "jobs_hot_deadline", "jobs_hot_callback_timeout")


@dataclass
class Work:
    n: int


def batch(rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "ids": [r["id"] for r in rows],
        "leases": [r["run_lease"] for r in rows],
        **{k: [v] * len(rows) for k, v in extra.items()},
    }


def one(rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": rows[0]["id"], "lease": rows[0]["run_lease"], **extra}


def explain(db: psycopg.Connection, name: str, params: dict[str, Any]) -> str:
    rows = db.execute("EXPLAIN " + Q[name].text, params).fetchall()
    return "\n".join(row["QUERY PLAN"] for row in rows)


STATEMENTS = {
    "job_heartbeat_many": lambda rows: batch(rows, progress=None),
    "job_complete_many": lambda rows: {**batch(rows), "keep": True},
    "job_finalize_many": lambda rows: batch(
        rows, actions="fail", delays=None, errors=None, progress=None
    ),
    "job_hand_back_many": lambda rows: batch(rows, progress=None),
    "job_park_many": lambda rows: batch(rows, callbacks=str(uuid.uuid4()), progress=None),
    "job_progress_set": lambda rows: one(rows, progress='{"done": 1}'),
    "job_callback_register": lambda rows: one(
        rows, timeout=60.0, filter=None, on_complete=None, on_fail=None, transform=None
    ),
    "job_callback_result_take": lambda rows: one(rows),
    "job_callback_wait_state": lambda rows: one(rows, callback_id=str(uuid.uuid4())),
    "job_lock_running": lambda rows: one(rows),
}


@pytest.fixture
def running(sync_client: awa.Client, db: psycopg.Connection) -> list[dict[str, Any]]:
    sync_client.insert_many([Work(i) for i in range(2 * RUNNING)])
    db.execute("ANALYZE awa.jobs_hot")  # no job runs yet
    rows = db.execute(
        Q["job_claim_many"].text, {"queue": "default", "limit": RUNNING, "deadline": 300.0}
    ).fetchall()
    assert len(rows) == RUNNING
    return sorted(rows, key=lambda r: r["id"])[RUNNING // 2 : RUNNING // 2 + BATCH]


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_a_fenced_write_probes_the_primary_key(
    name: str, mode: str, running: list[dict[str, Any]], db: psycopg.Connection
) -> None:
    db.execute(f"SET plan_cache_mode = {mode}")
    plan = explain(db, name, STATEMENTS[name](running))
    assert "jobs_hot_pkey" in plan or "jobs_hot_callback_id" in plan, plan
    for index in WHOLE_SCANS:
        assert index not in plan, plan
    assert "Seq Scan on jobs_hot" not in plan, plan


@pytest.mark.parametrize(
    ("name", "params", "indexes"),
    [
        (
            "job_rescue_many",
            {"staleness": 30.0, "only_id": None, "limit": 100, "force_fail": False},
            ("jobs_hot_heartbeat", "jobs_hot_deadline"),
        ),
        ("callback_timeouts", {"limit": 100}, ("jobs_hot_callback_timeout",)),
    ],
)
def test_the_sweeps_still_use_their_indexes(
    name: str,
    params: dict[str, Any],
    indexes: tuple[str, ...],
    running: list[dict[str, Any]],
    db: psycopg.Connection,
) -> None:
    plan = explain(db, name, params)
    for index in indexes:
        assert index in plan, plan
