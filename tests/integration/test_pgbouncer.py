"""Through PgBouncer in transaction mode (a private one, see fix_pgbouncer):
inserts and workers work with ``pgbouncer=True``; LISTEN/NOTIFY is found not
to work, with a clear warning, and the workers poll instead."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest

import awa
from awa._db.listener import listen_works
from tests.runtime_helpers import fast, wait_finalized, wait_signal

pytestmark = [pytest.mark.pg]

LEADER_LOCK = 4708303813012965710


@dataclass
class Bounce:
    n: int
    retry: bool = False


def leader_lock_holders(db: psycopg.Connection) -> list[dict]:
    return db.execute(
        "SELECT a.state FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
        (LEADER_LOCK,),
    ).fetchall()


async def test_listen_self_test_tells_pgbouncer_from_postgres(
    database_url: str, pgbouncer_url: str
) -> None:
    assert await listen_works(database_url, timeout=10)
    assert not await listen_works(pgbouncer_url, timeout=0.5)


async def test_workers_poll_behind_pgbouncer_with_a_warning(
    pgbouncer_url: str, db: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="awa.runtime")
    client = awa.AsyncClient(pgbouncer_url, pgbouncer=True, max_connections=4)

    @client.worker(Bounce, queue="bounce")
    async def bounce(job: awa.JobContext) -> object:
        if job.args.retry and job.attempt == 1:
            return awa.RetryAfter(0.1)
        return None

    async with client:
        # More runs of each statement than psycopg's prepare threshold (5).
        first = [await client.insert(Bounce(i), queue="bounce") for i in range(8)]
        many = (await client.insert_many([Bounce(i) for i in range(30)], queue="bounce")).ids
        async with await client.transaction() as tx:
            in_tx = await tx.insert(Bounce(99), queue="bounce")
        later = await client.insert(Bounce(100), queue="bounce", run_at=timedelta(seconds=0.5))
        retried = await client.insert(Bounce(101, retry=True), queue="bounce")
        client.start([("bounce", 4)], **fast(listen_probe_timeout=1.0))
        await client.wait_started()
        await wait_signal(client, "listen_unavailable")
        ids = [j.id for j in first] + list(many) + [in_tx.id, later.id, retried.id]
        for job_id in ids:
            await wait_finalized(client, job_id, "complete", timeout=30)
        await wait_signal(client, "leader_elected")
        assert client.runtime is not None
        assert client.runtime.listener is None
        assert client.runtime.is_leader
        assert [r["state"] for r in leader_lock_holders(db)] == ["idle in transaction"]
        assert (await client.health_check()).healthy
        await client.shutdown()
    done = db.execute(
        "SELECT count(*) AS n FROM awa.jobs WHERE state = 'completed' AND id = ANY(%s)", (ids,)
    ).fetchone()
    assert done["n"] == len(ids)
    assert leader_lock_holders(db) == []  # released at shutdown
    warnings = [r.getMessage() for r in caplog.records if r.name == "awa.runtime"]
    assert any("LISTEN/NOTIFY does not work" in m and "polling" in m for m in warnings)


async def test_workers_listen_when_connected_directly(
    client: awa.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="awa.runtime")

    @client.worker(Bounce, queue="bounce")
    async def bounce(job: awa.JobContext) -> None:
        pass

    async with client:
        client.start([("bounce", 2)], **fast())
        await client.wait_started()
        assert client.runtime is not None
        assert client.runtime.listener is not None
        await client.shutdown()
    assert not client._signals.seen("listen_unavailable")
    assert not [r for r in caplog.records if "LISTEN/NOTIFY" in r.getMessage()]


def test_sync_client_inserts_through_pgbouncer(pgbouncer_url: str, db) -> None:
    with awa.Client(pgbouncer_url, pgbouncer=True) as client:
        ids = [client.insert(Bounce(i), queue="bounce").id for i in range(10)]
        assert client.get_job(ids[-1]).state == awa.JobState.AVAILABLE
        assert len(client.list_jobs(queue="bounce", limit=50)) == 10
    assert db.execute("SELECT count(*) AS n FROM awa.jobs").fetchone()["n"] == 10


def test_pgbouncer_option_must_be_a_bool(database_url: str) -> None:
    with pytest.raises(awa.ConfigError, match="pgbouncer"):
        awa.Client(database_url, pgbouncer="yes")  # type: ignore[arg-type]
