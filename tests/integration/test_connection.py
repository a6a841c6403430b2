"""The anyio psycopg driver under asyncio and trio: queries, COPY, pipeline,
cancellation mid-query / mid-transaction / mid-COPY, and the pool's recovery."""

from __future__ import annotations

import anyio
import psycopg
import pytest

from awa import ClientClosed, ConnectionFailed, PoolTimeout
from awa._db.connection import AnyioConnection
from awa._db.pool import AsyncPool, PoolConfig

pytestmark = pytest.mark.pg


@pytest.fixture
def table(db: psycopg.Connection) -> str:
    db.execute("CREATE TABLE items (id int PRIMARY KEY, label text)")
    return "items"


def pool_for(url: str, **changes: object) -> AsyncPool:
    return AsyncPool(PoolConfig(conninfo=url, **changes))  # type: ignore[arg-type]


async def test_queries_copy_and_pipeline_work(database_url: str, table: str) -> None:
    conn = await AnyioConnection.connect(database_url, autocommit=True)
    try:
        row = await (await conn.execute("SELECT 1 + %(n)s AS v", {"n": 1})).fetchone()
        assert row == {"v": 2}
        async with conn.cursor() as cur, cur.copy("COPY items FROM STDIN") as copy:
            for i in range(500):
                await copy.write_row((i, f"label {i}"))
        async with conn.pipeline():
            first = await conn.execute("SELECT count(*) AS n FROM items")
            second = await conn.execute("SELECT max(id) AS m FROM items")
        assert (await first.fetchone(), await second.fetchone()) == ({"n": 500}, {"m": 499})
    finally:
        await conn.close()


async def test_cancel_mid_query_leaves_the_connection_usable(database_url: str) -> None:
    conn = await AnyioConnection.connect(database_url, autocommit=True)
    try:
        with anyio.move_on_after(0.2) as scope:
            await conn.execute("SELECT pg_sleep(10)")
        assert scope.cancelled_caught
        assert not conn.closed
        assert await (await conn.execute("SELECT 7 AS v")).fetchone() == {"v": 7}
    finally:
        await conn.close()


async def test_cancel_mid_transaction_commits_nothing(database_url: str, table: str, db) -> None:
    pool = pool_for(database_url, max_size=1)
    with anyio.move_on_after(0.3):
        async with pool.connection() as conn:
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO items VALUES (1, 'half')")
            await conn.execute("SELECT pg_sleep(10)")
            await conn.execute("COMMIT")
    async with pool.connection() as conn:
        assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
        await conn.execute("INSERT INTO items VALUES (2, 'after')")
    assert [r["id"] for r in db.execute("SELECT id FROM items").fetchall()] == [2]
    await pool.close()


async def test_cancel_mid_copy_commits_nothing(database_url: str, table: str, db) -> None:
    pool = pool_for(database_url, max_size=1)
    written = 0
    with anyio.CancelScope() as scope:
        async with (
            pool.connection() as conn,
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy("COPY items FROM STDIN") as copy,
        ):
            while True:
                await copy.write_row((written, "x" * 100))
                written += 1
                if written == 5000:
                    scope.cancel()  # lands at the COPY's next wait
    assert scope.cancelled_caught
    assert written >= 5000
    assert db.execute("SELECT count(*) AS n FROM items").fetchone() == {"n": 0}
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO items VALUES (1, 'after')")
    assert db.execute("SELECT count(*) AS n FROM items").fetchone() == {"n": 1}
    await pool.close()


async def test_pool_discards_a_killed_connection(database_url: str, db) -> None:
    pool = pool_for(database_url, max_size=1, check_after_idle=0.001)
    async with pool.connection() as conn:
        pid = conn.pgconn.backend_pid
    db.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))  # waits until it is gone
    async with pool.connection() as conn:
        assert conn.pgconn.backend_pid != pid
        await conn.execute("SELECT 1")
    assert pool.stats().discarded == 1
    await pool.close()


async def test_pool_skips_a_connection_the_server_closed_without_a_ping(
    database_url: str, db
) -> None:
    """A terminated backend (or a restart) leaves idle pooled connections that
    the server has hung up: the next borrower gets a fresh one, not an error."""
    pool = pool_for(database_url, max_size=2)  # check_after_idle: 30 s, no ping
    async with pool.connection() as conn:
        pid = conn.pgconn.backend_pid
    db.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))  # waits until it is gone
    async with pool.connection() as conn:
        assert conn.pgconn.backend_pid != pid
        await conn.execute("SELECT 1")
    assert pool.stats().discarded == 1
    await pool.close()


def test_sync_pool_skips_a_connection_the_server_closed(database_url: str, db) -> None:
    import awa

    with awa.Client(database_url, max_connections=1) as client:
        client.queue_stats()
        db.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'awa'"
        )
        client.queue_stats()  # no ConnectionFailed


async def test_pool_closes_a_connection_whose_health_check_was_cancelled(
    database_url: str,
) -> None:
    pool = pool_for(database_url, max_size=1, check_after_idle=1)
    async with pool.connection() as conn:
        pass
    pool._idle[-1].returned -= 60  # idle long enough to need a ping
    with anyio.CancelScope() as scope:
        scope.cancel()  # lands in the ping the idle connection now needs
        async with pool.connection():
            pass  # pragma: no cover
    assert conn.closed
    assert pool.stats().size == 0
    async with pool.connection() as fresh:
        assert fresh is not conn
    await pool.close()


async def test_pool_acquire_times_out_when_exhausted(database_url: str) -> None:
    pool = pool_for(database_url, max_size=1, acquire_timeout=0.1)
    async with pool.connection():
        with pytest.raises(PoolTimeout, match="max_connections=1"):
            async with pool.connection():
                pass  # pragma: no cover
    async with pool.connection() as conn:
        await conn.execute("SELECT 1")
    await pool.close()
    with pytest.raises(ClientClosed):
        async with pool.connection():
            pass  # pragma: no cover


async def test_pool_bounds_concurrent_borrowers(database_url: str) -> None:
    pool = pool_for(database_url, max_size=3)
    peak = 0

    async def borrow() -> None:
        nonlocal peak
        async with pool.connection() as conn:
            peak = max(peak, pool.stats().in_use)
            await conn.execute("SELECT pg_sleep(0.02)")

    async with anyio.create_task_group() as tg:
        for _ in range(12):
            tg.start_soon(borrow)
    assert peak == 3
    assert pool.stats().size <= 3
    await pool.close()


async def test_unreachable_database_is_a_connection_failure() -> None:
    pool = pool_for("postgresql://nobody@127.0.0.1:1/none", connect_timeout=2)
    with pytest.raises(ConnectionFailed):
        async with pool.connection():
            pass  # pragma: no cover
    await pool.close()


async def test_notifies_arrive_through_anyio(database_url: str) -> None:
    listener = await AnyioConnection.connect(database_url, autocommit=True)
    sender = await AnyioConnection.connect(database_url, autocommit=True)
    try:
        await listener.execute("LISTEN ping")
        await sender.execute("NOTIFY ping, 'hello'")
        gen = listener.notifies()
        try:
            with anyio.fail_after(5):
                notify = await gen.__anext__()
        finally:
            await gen.aclose()
        assert (notify.channel, notify.payload) == ("ping", "hello")
    finally:
        await listener.close()
        await sender.close()
