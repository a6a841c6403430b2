"""awa.bridge on async connections: psycopg, asyncpg, SQLAlchemy's asyncio extension.

asyncpg and SQLAlchemy's asyncio extension are asyncio libraries, and so is
psycopg's own ``AsyncConnection`` (it waits through asyncio): those tests run
on asyncio only. The bridge itself only awaits the caller's driver, which the
last tests show under trio with a psycopg connection that waits through anyio
(awa's own).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest

import awa
from awa._db.connection import open_connection
from awa.bridge import insert_job, insert_job_sync, insert_many
from tests.fixtures.fix_bridge import asyncpg_url
from tests.helpers import count_jobs, job_state

pytestmark = pytest.mark.pg

asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])


@dataclass
class Refund:
    order: int


def args_of(db) -> list[dict]:
    return [r["args"] for r in db.execute("SELECT args FROM awa.jobs ORDER BY id").fetchall()]


# -- psycopg AsyncConnection -------------------------------------------------


@asyncio_only
async def test_psycopg_async_commit_and_rollback(database_url, db) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        job = await insert_job(conn, Refund(1), queue="refunds")
        assert count_jobs(db) == 0
        await conn.commit()
        assert job_state(db, job.id) == "available"
        await insert_job(conn, Refund(2))
        await conn.rollback()
        async with conn.transaction():
            await insert_many(conn, [Refund(3), Refund(4)])
    assert args_of(db) == [{"order": 1}, {"order": 3}, {"order": 4}]


@asyncio_only
async def test_psycopg_async_unique_conflict(database_url, db) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        first = await insert_job(conn, Refund(1), unique_opts={"by_args": True})
        with pytest.raises(awa.UniqueConflict) as caught:
            await insert_job(conn, Refund(1), unique_opts={"by_args": True})
        assert caught.value.existing_job_id == first.id
        result = await insert_many(
            conn, [Refund(1), Refund(2)], unique_opts={}, on_unique_conflict="skip"
        )
        assert [s.index for s in result.skipped] == [0]
    assert count_jobs(db) == 2


@asyncio_only
async def test_an_async_connection_given_to_the_sync_function(database_url) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        with pytest.raises(awa.ValidationError, match="insert_job"):
            insert_job_sync(conn, Refund(1))
        with pytest.raises(awa.ValidationError, match="AsyncConnection"):
            await insert_job(object(), Refund(1))


# -- asyncpg -----------------------------------------------------------------


@asyncio_only
async def test_asyncpg_commit_and_rollback(database_url, db) -> None:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_url(database_url))
    try:
        async with conn.transaction():
            job = await insert_job(
                conn,
                Refund(1),
                tags=["x"],
                metadata={"via": "asyncpg"},
                unique_opts={"by_args": True},
            )
            assert count_jobs(db) == 0
        assert job_state(db, job.id) == "available"
        assert (job.tags, job.metadata, job.args) == (("x",), {"via": "asyncpg"}, {"order": 1})
        assert job.unique_states is not None
        assert awa.JobState.AVAILABLE in job.unique_states

        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await insert_job(conn, Refund(2))
                raise RuntimeError("boom")

        with pytest.raises(awa.UniqueConflict) as caught:
            await insert_job(conn, Refund(1), unique_opts={"by_args": True})
        assert caught.value.existing_job_id == job.id

        later = await insert_job(conn, Refund(3), run_at=timedelta(hours=1))
        assert later.state == awa.JobState.SCHEDULED
    finally:
        await conn.close()
    assert args_of(db) == [{"order": 1}, {"order": 3}]


@asyncio_only
async def test_asyncpg_insert_many_uses_copy(database_url, db) -> None:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_url(database_url))
    try:
        # outside a transaction: the batch gets one of its own
        result = await insert_many(
            conn,
            [Refund(i) for i in range(40)]
            + [awa.InsertJob(Refund(99), run_at=timedelta(hours=1), unique_opts={})],
        )
        assert len(result) == 41
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await insert_many(conn, [Refund(i) for i in range(5)])
                raise RuntimeError("boom")
        with pytest.raises(awa.UniqueConflict):
            await insert_many(conn, [Refund(99)], unique_opts={})
    finally:
        await conn.close()
    assert count_jobs(db) == 41
    assert job_state(db, result.ids[-1]) == "scheduled"


@asyncio_only
async def test_asyncpg_pool_connection(database_url, db) -> None:
    import asyncpg

    pool = asyncpg.create_pool(asyncpg_url(database_url), min_size=1, max_size=1)
    async with pool, pool.acquire() as conn, conn.transaction():
        await insert_job(conn, Refund(1))
    assert count_jobs(db) == 1


# -- SQLAlchemy asyncio --------------------------------------------------------


@asyncio_only
async def test_sqlalchemy_async_connection(sa_async_engine, db) -> None:
    async with sa_async_engine.connect() as conn:
        job = await insert_job(conn, Refund(1), unique_opts={"by_args": True})
        assert count_jobs(db) == 0
        await conn.commit()
        await insert_job(conn, Refund(2))
        await conn.rollback()
        with pytest.raises(awa.UniqueConflict) as caught:
            await insert_job(conn, Refund(1), unique_opts={"by_args": True})
        assert caught.value.existing_job_id == job.id
        await conn.rollback()
        await insert_many(conn, [Refund(i) for i in range(10, 15)])
        await conn.commit()
    assert count_jobs(db) == 6


@asyncio_only
async def test_sqlalchemy_async_session(sa_async_engine, db) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(sa_async_engine) as session:
        async with session.begin():
            await insert_job(session, Refund(1))
            await insert_many(session, [Refund(2), Refund(3)], run_at=timedelta(minutes=5))
        with pytest.raises(RuntimeError):
            async with session.begin():
                await insert_job(session, Refund(4))
                raise RuntimeError("boom")
    assert args_of(db) == [{"order": 1}, {"order": 2}, {"order": 3}]


# -- both backends -------------------------------------------------------------


async def test_bridge_runs_on_any_backend_with_an_anyio_connection(database_url, db) -> None:
    conn = await open_connection(database_url, timeout=10)
    try:
        await conn.set_autocommit(False)
        job = await insert_job(conn, Refund(1))
        await insert_many(conn, [Refund(2)])
        assert count_jobs(db) == 0
        await conn.commit()
        await insert_job(conn, Refund(3))
        await conn.rollback()
    finally:
        await conn.close()
    assert job_state(db, job.id) == "available"
    assert args_of(db) == [{"order": 1}, {"order": 2}]


async def test_bad_input_is_refused_before_the_connection_is_used(database_url, db) -> None:
    conn = await open_connection(database_url, timeout=10)
    try:
        with pytest.raises(awa.ValidationError):
            await insert_job(conn, Refund(1), priority=0)
        with pytest.raises(awa.ValidationError):
            await insert_many(conn, [Refund(1)], on_unique_conflict="ignore")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    finally:
        await conn.close()
    assert count_jobs(db) == 0
