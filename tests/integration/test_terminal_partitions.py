"""Terminal storage: hourly partitions made ahead, rows from the default
partition moved in, whole partitions dropped for retention (releasing keys)."""

from __future__ import annotations

import pytest

from tests.helpers import SendEmail, unique_claims

pytestmark = pytest.mark.pg


def partitions(db, parent: str) -> list[str]:
    rows = db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass ORDER BY 1",
        (f"awa.{parent}",),
    ).fetchall()
    return [r["relname"] for r in rows]


async def test_partitions_exist_for_the_coming_hours(db) -> None:
    completed = partitions(db, "jobs_completed")
    assert "jobs_completed_default" in completed
    assert len(completed) >= 4  # this hour, the next three, and the default


async def test_rows_waiting_in_default_move_into_their_new_partition(client, db) -> None:
    job = await client.insert(
        SendEmail("a", "b"),
        unique_opts={"by_args": True, "states": ["scheduled", "available", "cancelled"]},
    )
    await client.cancel(job.id)
    # pretend the job was finalized ten hours ahead, past every partition made so far
    db.execute(
        "UPDATE awa.jobs_terminal SET finalized_at = now() + interval '10 hours' WHERE id = %s",
        (job.id,),
    )
    where = db.execute("SELECT tableoid::regclass::text AS t FROM awa.jobs_terminal").fetchone()
    assert where["t"] == "awa.jobs_failed_default"
    created = db.execute(
        "SELECT awa.ensure_terminal_partitions(interval '12 hours') AS n"
    ).fetchone()
    assert created["n"] > 0
    where = db.execute("SELECT tableoid::regclass::text AS t FROM awa.jobs_terminal").fetchone()
    assert where["t"].startswith("awa.jobs_failed_2")
    assert list(unique_claims(db).values()) == [job.id]  # cancelled is in this job's states


async def test_retention_drops_whole_partitions_and_releases_keys(client, db) -> None:
    kept = await client.insert(
        SendEmail("kept", "x"), unique_opts={"states": ["available", "cancelled"]}
    )
    old = await client.insert(
        SendEmail("old", "x"), unique_opts={"states": ["available", "cancelled"]}
    )
    await client.cancel(kept.id)
    await client.cancel(old.id)
    db.execute(
        "SELECT awa.create_terminal_partition('jobs_failed',"
        " date_trunc('hour', now()) - interval '5 hours',"
        " date_trunc('hour', now()) - interval '4 hours')"
    )
    db.execute(
        "UPDATE awa.jobs_terminal"
        " SET finalized_at = date_trunc('hour', now()) - interval '270 minutes' WHERE id = %s",
        (old.id,),
    )
    assert len(unique_claims(db)) == 2
    dropped = db.execute(
        "SELECT awa.drop_terminal_partitions('jobs_failed', now() - interval '3 hours') AS n"
    ).fetchone()
    assert dropped["n"] == 1
    assert db.execute("SELECT id FROM awa.jobs").fetchall() == [{"id": kept.id}]
    assert list(unique_claims(db).values()) == [kept.id]
    # the current hour's partition and the default stay
    assert any(p.endswith("_default") for p in partitions(db, "jobs_failed"))
