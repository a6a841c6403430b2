"""Transactions: the seed's transactional enqueue, rollback, placeholders, misuse."""

from __future__ import annotations

import anyio
import pytest

from awa import AwaError, DatabaseError, RowNotFound, ValidationError
from tests.helpers import SendEmail, count_jobs

pytestmark = pytest.mark.pg


@pytest.fixture
def orders(db) -> None:
    db.execute("CREATE TABLE orders (id int PRIMARY KEY)")


def order_ids(db) -> list[int]:
    return [r["id"] for r in db.execute("SELECT id FROM orders ORDER BY id").fetchall()]


async def test_seed_transactional_enqueue_runs_as_written(client, db, orders) -> None:
    order_id = 42
    # --- the seed README's snippet, verbatim ---
    async with await client.transaction() as tx:
        await tx.execute("INSERT INTO orders (id) VALUES ($1)", order_id)
        await tx.insert(SendEmail(to="alice@example.com", subject="Order confirmed"))
    # ---
    assert order_ids(db) == [42]
    assert count_jobs(db) == 1


async def test_rollback_on_exception_discards_both(client, db, orders) -> None:
    with pytest.raises(RuntimeError):
        async with client.transaction() as tx:
            await tx.execute("INSERT INTO orders (id) VALUES ($1)", 1)
            await tx.insert(SendEmail("a", "b"))
            await tx.insert_many([SendEmail("c", "d"), SendEmail("e", "f")])
            raise RuntimeError("business logic failed")
    assert order_ids(db) == []
    assert count_jobs(db) == 0


async def test_fetch_helpers_return_dicts(client, orders) -> None:
    async with await client.transaction() as tx:
        assert await tx.execute("INSERT INTO orders (id) VALUES ($1), ($2)", 1, 2) == 2
        assert await tx.fetch_one("SELECT count(*) AS n FROM orders") == {"n": 2}
        assert await tx.fetch_optional("SELECT id FROM orders WHERE id = $1", 9) is None
        assert await tx.fetch_all("SELECT id FROM orders ORDER BY id") == [{"id": 1}, {"id": 2}]
        assert await tx.fetch_one("SELECT $1::jsonb AS doc", {"a": [1]}) == {"doc": {"a": [1]}}
        with pytest.raises(RowNotFound):
            await tx.fetch_one("SELECT id FROM orders WHERE id = $1", 9)


async def test_bad_placeholders_are_refused_before_sending(client, db, orders) -> None:
    async with await client.transaction() as tx:
        with pytest.raises(ValidationError, match=r"\$2"):
            await tx.execute("INSERT INTO orders (id) VALUES ($1), ($2)", 1)
        with pytest.raises(ValidationError, match="placeholders"):
            await tx.execute("INSERT INTO orders (id) VALUES (%s)", 1)
        # nothing was sent, so the transaction is still good
        await tx.execute("INSERT INTO orders (id) VALUES ($1)", 3)
    assert order_ids(db) == [3]


async def test_a_failed_statement_aborts_the_transaction(client, db, orders) -> None:
    with pytest.raises(DatabaseError) as caught:
        async with await client.transaction() as tx:
            await tx.insert(SendEmail("a", "b"))
            await tx.execute("INSERT INTO no_such_table VALUES ($1)", 1)
    assert caught.value.sqlstate == "42P01"
    assert count_jobs(db) == 0


async def test_explicit_commit_finishes_the_transaction(client, db, orders) -> None:
    tx = await client.transaction()
    await tx.execute("INSERT INTO orders (id) VALUES ($1)", 5)
    await tx.commit()
    with pytest.raises(AwaError, match="finished"):
        await tx.execute("SELECT 1")
    assert order_ids(db) == [5]
    tx = await client.transaction()
    await tx.execute("INSERT INTO orders (id) VALUES ($1)", 6)
    await tx.rollback()
    assert order_ids(db) == [5]


async def test_cancelled_transaction_commits_nothing(client, db, orders) -> None:
    with anyio.move_on_after(0.3):
        async with await client.transaction() as tx:
            await tx.insert(SendEmail("a", "b"))
            await tx.execute("INSERT INTO orders (id) VALUES ($1)", 1)
            await tx.execute("SELECT pg_sleep(10)")
    assert count_jobs(db) == 0
    assert order_ids(db) == []
    # the pool recovered: the client keeps working
    await client.insert(SendEmail("after", "cancel"))
    assert count_jobs(db) == 1


async def test_unstarted_transaction_is_refused(client) -> None:
    tx = client.transaction()
    with pytest.raises(AwaError, match="not started"):
        await tx.execute("SELECT 1")
