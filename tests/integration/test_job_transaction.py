"""job.transaction(): a handler's own writes and its job's completion commit
together, fenced by the attempt's lease."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import pytest

import awa
from awa import JobState
from tests.runtime_helpers import fast, wait_finalized, wait_signal

pytestmark = pytest.mark.pg


@dataclass
class Charge:
    order: int


@pytest.fixture
def ledger(db) -> None:
    db.execute("CREATE TABLE ledger (job_id bigint PRIMARY KEY, order_id int)")


def ledger_rows(db) -> list[int]:
    return [r["order_id"] for r in db.execute("SELECT order_id FROM ledger").fetchall()]


async def test_writes_and_completion_commit_together(client, db, ledger) -> None:
    @client.worker(Charge)
    async def handle(job: awa.JobContext) -> None:
        async with job.transaction() as tx:
            await tx.execute("INSERT INTO ledger VALUES ($1, $2)", job.id, job.args.order)
            await tx.insert(Charge(job.args.order + 1000), kind="charge_followup")

    async with client:
        client.start([("default", 2)], **fast())
        job = await client.insert(Charge(7))
        await wait_finalized(client, job.id, "complete")
        assert (await client.get_job(job.id)).state == JobState.COMPLETED
    assert ledger_rows(db) == [7]
    follow = db.execute("SELECT args FROM awa.jobs WHERE kind = 'charge_followup'").fetchall()
    assert [r["args"] for r in follow] == [{"order": 1007}]


async def test_a_raising_block_rolls_back_and_retries(client, db, ledger) -> None:
    attempts: list[int] = []

    @client.worker(Charge)
    async def handle(job: awa.JobContext) -> None:
        attempts.append(job.attempt)
        async with job.transaction() as tx:
            await tx.execute("INSERT INTO ledger VALUES ($1, $2)", job.id, len(attempts))
            if len(attempts) == 1:
                raise RuntimeError("payment provider said no")

    async with client:
        client.start([("default", 2)], **fast())
        job = await client.insert(Charge(1))
        await wait_finalized(client, job.id, "retry")
        await client.retry(job.id)  # skip the backoff
        await wait_finalized(client, job.id, "complete")
    assert attempts == [1, 1]  # an admin retry resets the attempt count
    assert ledger_rows(db) == [2]  # the first run's insert was rolled back


async def test_a_stale_lease_commits_nothing(client, db, ledger) -> None:
    raised: list[BaseException] = []
    go = anyio.Event()
    running = anyio.Event()

    @client.worker(Charge)
    async def handle(job: awa.JobContext) -> None:
        running.set()
        await go.wait()
        try:
            async with job.transaction() as tx:
                await tx.execute("INSERT INTO ledger VALUES ($1, $2)", job.id, 1)
                await tx.insert(Charge(2))
        except awa.LeaseLost as exc:
            raised.append(exc)
            raise

    async with client:
        # Slow heartbeats: the runtime must not notice the lost lease first.
        client.start([("default", 1)], **fast(heartbeat_interval=30, heartbeat_staleness=120))
        job = await client.insert(Charge(1))
        with anyio.fail_after(20):
            await running.wait()
        # As if the job had been rescued and claimed by another worker.
        db.execute("UPDATE awa.jobs_hot SET run_lease = run_lease + 1 WHERE id = %s", (job.id,))
        go.set()
        await wait_signal(client, "job_stale", id=job.id)
        assert len(raised) == 1
        now = await client.get_job(job.id)
        assert now.state == JobState.RUNNING  # still the other attempt's
    assert ledger_rows(db) == []
    assert db.execute("SELECT count(*) AS n FROM awa.jobs").fetchone()["n"] == 1


async def test_heartbeats_go_on_and_a_cancel_waits_during_the_transaction(
    client, db, ledger
) -> None:
    inside = anyio.Event()
    finish = anyio.Event()

    @client.worker(Charge)
    async def handle(job: awa.JobContext) -> None:
        async with job.transaction() as tx:
            await tx.execute("INSERT INTO ledger VALUES ($1, $2)", job.id, 1)
            inside.set()
            await finish.wait()

    async with client:
        client.start([("default", 1)], **fast())
        job = await client.insert(Charge(1))
        with anyio.fail_after(20):
            await inside.wait()
        client._signals.clear()
        beat = await wait_signal(client, "heartbeat")  # not blocked by the row lock
        assert beat["lost"] == 0

        cancel_result: list[Any] = []

        async def cancel() -> None:
            try:
                cancel_result.append(await client.cancel(job.id))
            except awa.AwaError as exc:
                cancel_result.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel)
            await wait_until_blocked_on_a_lock(db)
            finish.set()
        await wait_finalized(client, job.id, "complete")
        assert len(cancel_result) == 1
        assert isinstance(cancel_result[0], awa.AwaError)  # it found the job completed
        assert (await client.get_job(job.id)).state == JobState.COMPLETED
    assert ledger_rows(db) == [1]


async def test_transaction_twice_is_refused(client, db, ledger) -> None:
    refused: list[BaseException] = []

    @client.worker(Charge)
    async def handle(job: awa.JobContext) -> None:
        async with job.transaction() as tx:
            await tx.execute("INSERT INTO ledger VALUES ($1, $2)", job.id, 1)
        try:
            async with job.transaction():
                pass
        except awa.AwaError as exc:
            refused.append(exc)

    async with client:
        client.start([("default", 1)], **fast())
        job = await client.insert(Charge(1))
        await wait_finalized(client, job.id, "complete")
    assert len(refused) == 1
    assert ledger_rows(db) == [1]


async def wait_until_blocked_on_a_lock(db) -> None:
    """Until some session of this database waits on a row lock (the cancel):
    a server-side condition, with no event to wait on."""
    with anyio.fail_after(20):
        while not db.execute(  # noqa: ASYNC110
            "SELECT count(*) AS n FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()["n"]:
            await anyio.sleep(0.02)
