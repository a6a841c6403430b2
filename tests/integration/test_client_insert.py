"""Inserting jobs: defaults, scheduling, uniqueness, COPY batches, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import attrs
import pydantic
import pytest

import awa
from awa import (
    ClientClosed,
    ConnectionFailed,
    InsertJob,
    JobState,
    UniqueConflict,
    UniqueOpts,
    ValidationError,
)
from awa._db.connection import AnyioConnection
from awa._model.channels import queue_channel
from tests.helpers import SendEmail, count_jobs, force_failed, unique_claims

pytestmark = pytest.mark.pg


@attrs.frozen
class Resize:
    path: str
    width: int


class Charge(pydantic.BaseModel):
    customer: str
    cents: int


async def test_insert_returns_the_stored_job(client: awa.AsyncClient) -> None:
    job = await client.insert(SendEmail(to="alice@example.com", subject="Welcome"), queue="email")
    assert job.kind == "send_email"
    assert job.queue == "email"
    assert job.state is JobState.AVAILABLE
    assert (job.priority, job.attempt, job.max_attempts, job.run_lease) == (2, 0, 25, 0)
    assert job.args == {"to": "alice@example.com", "subject": "Welcome"}
    assert job.created_at.tzinfo is not None
    assert await client.get_job(job.id) == job


async def test_insert_returns_what_is_stored_with_every_option(client: awa.AsyncClient) -> None:
    """insert() builds its Job from what it sent plus what the database decided."""
    for i, run_at in enumerate((None, timedelta(hours=1), datetime(2001, 2, 3, tzinfo=UTC))):
        job = await client.insert(
            {"nested": {"b": [1, 2.5, None, True], "a": "é"}, "n": 10**20, "i": i},
            kind="report",
            queue="reports",
            priority=4,
            max_attempts=3,
            tags=["x", 'quo"te'],
            metadata={"team": "data"},
            run_at=run_at,
            unique_opts={"by_args": True, "by_queue": True},
            concurrency_key="tenant-1",
            concurrency_limit=2,
        )
        assert await client.get_job(job.id) == job


async def test_read_jobs_do_not_share_their_empty_metadata(client: awa.AsyncClient) -> None:
    first = await client.get_job((await client.insert(SendEmail("a", "b"))).id)
    second = await client.get_job((await client.insert(SendEmail("c", "d"))).id)
    assert first.metadata == second.metadata == {}
    first.metadata["changed"] = True
    assert second.metadata == {}


async def test_insert_accepts_attrs_pydantic_and_dict_args(client: awa.AsyncClient) -> None:
    assert (await client.insert(Resize("a.png", 100))).kind == "resize"
    charge = await client.insert(Charge(customer="c", cents=5), priority=1, tags=["billing"])
    assert (charge.kind, charge.priority, charge.tags) == ("charge", 1, ("billing",))
    raw = await client.insert({"n": 1}, kind="raw_job", metadata={"source": "test"})
    assert (raw.kind, raw.args, raw.metadata) == ("raw_job", {"n": 1}, {"source": "test"})


async def test_run_at_in_the_future_schedules_by_the_database_clock(client, db) -> None:
    later = await client.insert(SendEmail("a", "b"), run_at=timedelta(hours=1))
    assert later.state is JobState.SCHEDULED
    assert db.execute("SELECT count(*) AS n FROM awa.scheduled_jobs").fetchone()["n"] == 1
    past = await client.insert(SendEmail("a", "b"), run_at=datetime.now(UTC) - timedelta(hours=1))
    assert past.state is JobState.AVAILABLE
    absolute = await client.insert(SendEmail("a", "b"), run_at=datetime(2099, 1, 1, tzinfo=UTC))
    assert absolute.state is JobState.SCHEDULED
    assert absolute.run_at == datetime(2099, 1, 1, tzinfo=UTC)


async def test_unique_insert_refuses_a_duplicate(client: awa.AsyncClient, db) -> None:
    first = await client.insert(SendEmail("a", "b"), unique_opts={"by_args": True})
    with pytest.raises(UniqueConflict) as caught:
        await client.insert(SendEmail("a", "b"), unique_opts=UniqueOpts())
    assert caught.value.existing_job_id == first.id
    assert caught.value.constraint == "job_unique_claims_pkey"
    assert count_jobs(db) == 1
    # different args, or the same args on a queue-unique key in another queue, are fine
    await client.insert(SendEmail("a", "c"), unique_opts={"by_args": True})
    await client.insert(SendEmail("x", "y"), queue="q1", unique_opts={"by_queue": True})
    await client.insert(SendEmail("x", "y"), queue="q2", unique_opts={"by_queue": True})
    with pytest.raises(UniqueConflict):
        await client.insert(SendEmail("x", "y"), queue="q2", unique_opts={"by_queue": True})


async def test_unique_key_is_released_outside_its_states(client: awa.AsyncClient, db) -> None:
    first = await client.insert(SendEmail("a", "b"), unique_opts={"by_args": True})
    await client.cancel(first.id)  # cancelled is not in the default states
    assert unique_claims(db) == {}
    second = await client.insert(SendEmail("a", "b"), unique_opts={"by_args": True})
    assert list(unique_claims(db).values()) == [second.id]


async def test_unique_by_period_buckets(client: awa.AsyncClient) -> None:
    await client.insert(SendEmail("a", "b"), unique_opts={"by_period": 1})
    await client.insert(SendEmail("a", "b"), unique_opts={"by_period": 2})
    with pytest.raises(UniqueConflict):
        await client.insert(SendEmail("a", "b"), unique_opts={"by_period": 2})
    await client.insert(SendEmail("a", "b"), unique_opts={"by_period": timedelta(hours=1)})
    with pytest.raises(UniqueConflict):
        await client.insert(SendEmail("a", "b"), unique_opts={"by_period": timedelta(hours=1)})


async def test_concurrent_unique_inserts_admit_exactly_one(client: awa.AsyncClient, db) -> None:
    outcomes: list[str] = []

    async def attempt() -> None:
        try:
            await client.insert(SendEmail("race", "x"), unique_opts={"by_args": True})
            outcomes.append("ok")
        except UniqueConflict:
            outcomes.append("conflict")

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(attempt)
    assert sorted(outcomes) == ["conflict"] * 9 + ["ok"]
    assert count_jobs(db) == 1


async def test_insert_wakes_the_queue_channel(client: awa.AsyncClient, database_url: str) -> None:
    long_queue = "q" * 200
    conn = await AnyioConnection.connect(database_url, autocommit=True)
    try:
        for queue in ("email", long_queue):
            await conn.execute(f'LISTEN "{queue_channel(queue)}"')
        await client.insert(SendEmail("a", "b"), queue="email")
        await client.insert(SendEmail("a", "b"), queue=long_queue)
        await client.insert(SendEmail("a", "b"), queue="email", run_at=timedelta(hours=1))
        seen = []
        gen = conn.notifies(timeout=2)
        async for note in gen:
            seen.append(note.channel)
            if len(seen) == 2:
                break
        await gen.aclose()
        assert seen == ["awa:email", queue_channel(long_queue)]
    finally:
        await conn.close()


BAD_INSERTS: list[tuple[Any, dict[str, Any]]] = [
    (SendEmail("a", "b"), {"priority": 9}),
    (SendEmail("a", "b"), {"max_attempts": 0}),
    (SendEmail("a", "b"), {"queue": ""}),
    (SendEmail("a", "b"), {"tags": ["x"] * 21}),
    (SendEmail("a\x00", "b"), {}),
    ({"a": 1}, {}),
    (SendEmail("a", "b"), {"run_at": datetime(2030, 1, 1)}),
    (SendEmail("a", "b"), {"unique_opts": {"nope": 1}}),
    (SendEmail("a", "b"), {"metadata": {"k": float("inf")}}),
]


@pytest.mark.parametrize(("args", "opts"), BAD_INSERTS)
async def test_bad_input_raises_and_writes_nothing(client, db, args: Any, opts: dict) -> None:
    with pytest.raises(ValidationError):
        await client.insert(args, **opts)
    with pytest.raises(ValidationError):
        await client.insert_many([SendEmail("ok", "ok"), args], **opts)
    assert count_jobs(db) == 0


async def test_unknown_options_are_type_errors(client: awa.AsyncClient, db) -> None:
    with pytest.raises(TypeError):
        await client.insert(SendEmail("a", "b"), queeu="typo")  # type: ignore[call-arg]
    assert count_jobs(db) == 0


async def test_closed_client_raises(database_url: str) -> None:
    client = awa.AsyncClient(database_url)
    await client.insert(SendEmail("a", "b"))
    await client.close()
    assert client.closed
    with pytest.raises(ClientClosed):
        await client.insert(SendEmail("a", "b"))
    with pytest.raises(ClientClosed):
        await client.get_job(1)


async def test_unreachable_database_raises_connection_failed() -> None:
    async with awa.AsyncClient("postgresql://u:pw@127.0.0.1:1/x", connect_timeout=2) as client:
        with pytest.raises(ConnectionFailed):
            await client.insert(SendEmail("a", "b"))
        assert "pw" not in repr(client)


async def test_insert_many_copies_in_order(client: awa.AsyncClient, db) -> None:
    jobs = [SendEmail(f"user{i}", "hi") for i in range(1000)]
    jobs.append(InsertJob(SendEmail("vip", "hi"), priority=1, queue="vip"))
    jobs.append(InsertJob(SendEmail("later", "hi"), run_at=timedelta(hours=1)))
    jobs.append(InsertJob(SendEmail("past", "hi"), run_at=datetime(2000, 1, 1, tzinfo=UTC)))
    result = await client.insert_many(jobs, tags=["bulk"])
    assert len(result) == 1003
    assert result.skipped == ()
    assert list(result.ids) == sorted(result.ids)
    first = await client.get_job(result.ids[0])
    assert (first.args, first.tags, first.state) == (
        {"to": "user0", "subject": "hi"},
        ("bulk",),
        JobState.AVAILABLE,
    )
    vip = await client.get_job(result.ids[1000])
    assert (vip.queue, vip.priority) == ("vip", 1)
    assert (await client.get_job(result.ids[1001])).state is JobState.SCHEDULED
    past = await client.get_job(result.ids[1002])
    assert (past.state, past.run_at.year) == (JobState.AVAILABLE, 2000)
    assert count_jobs(db) == 1003
    assert (await client.insert_many([])).ids == ()


AWKWARD_TAGS = ['quo"te', "back\\slash", "com,ma", "{braces}", "NULL", " spaced ", "é✓"]


async def test_insert_many_keeps_awkward_tags(client: awa.AsyncClient) -> None:
    plain = await client.insert_many([SendEmail("a", "b")], tags=AWKWARD_TAGS)
    own = await client.insert_many([InsertJob(SendEmail("c", "d"), tags=AWKWARD_TAGS[::-1])])
    untagged = await client.insert_many([SendEmail("e", "f")])
    assert (await client.get_job(plain.ids[0])).tags == tuple(AWKWARD_TAGS)
    assert (await client.get_job(own.ids[0])).tags == tuple(AWKWARD_TAGS[::-1])
    assert (await client.get_job(untagged.ids[0])).tags == ()


async def test_insert_many_unique_conflicts_raise_or_skip(client: awa.AsyncClient, db) -> None:
    held = await client.insert(SendEmail("dup", "x"), unique_opts={"by_args": True})
    batch = [
        SendEmail("new1", "x"),
        SendEmail("dup", "x"),
        SendEmail("new2", "x"),
        SendEmail("new1", "x"),
    ]
    with pytest.raises(UniqueConflict, match="nothing was inserted") as caught:
        await client.insert_many(batch, unique_opts={"by_args": True})
    assert caught.value.existing_job_id == held.id
    assert count_jobs(db) == 1
    assert list(unique_claims(db).values()) == [held.id]

    result = await client.insert_many(
        batch, unique_opts={"by_args": True}, on_unique_conflict="skip"
    )
    assert len(result.ids) == 2
    assert [s.index for s in result.skipped] == [1, 3]
    assert result.skipped[0].existing_job_id == held.id
    assert result.skipped[1].existing_job_id == result.ids[0]
    assert count_jobs(db) == 3
    with pytest.raises(ValidationError, match="on_unique_conflict"):
        await client.insert_many(batch, on_unique_conflict="ignore")


async def test_insert_many_unique_against_failed_job_is_allowed(client, db) -> None:
    old = await client.insert(SendEmail("once", "x"), unique_opts={"by_args": True})
    force_failed(db, old.id)  # failed is not in the default unique states
    result = await client.insert_many([SendEmail("once", "x")], unique_opts={"by_args": True})
    assert len(result.ids) == 1
