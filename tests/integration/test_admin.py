"""Admin operations: read, page, retry, cancel, unique-key cancel, bulk, queues."""

from __future__ import annotations

import json

import pytest

import awa
from awa import InvalidStateError, JobNotFound, JobState, ValidationError
from awa._db.connection import AnyioConnection
from tests.helpers import SendEmail, force_failed, force_running, job_state

pytestmark = pytest.mark.pg


async def test_get_job_errors(client: awa.AsyncClient) -> None:
    with pytest.raises(JobNotFound) as caught:
        await client.get_job(12345)
    assert caught.value.job_id == 12345
    for bad in (0, -1, "1", True, None):
        with pytest.raises(ValidationError):
            await client.get_job(bad)  # type: ignore[arg-type]


async def test_list_jobs_filters_and_pages(client: awa.AsyncClient) -> None:
    ids = (await client.insert_many([SendEmail(str(i), "s") for i in range(25)])).ids
    await client.insert(SendEmail("other", "s"), queue="other")
    await client.insert({"x": 1}, kind="other_kind")
    seen: list[int] = []
    cursor = None
    while True:
        page = await client.list_jobs(kind="send_email", queue="default", limit=10, cursor=cursor)
        seen.extend(job.id for job in page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    assert [j.queue for j in await client.list_jobs(queue="other")] == ["other"]
    assert len(await client.list_jobs(state="available")) == 27
    assert len(await client.list_jobs(state=JobState.FAILED)) == 0
    for bad in ({"limit": 0}, {"limit": 5000}, {"cursor": "abc"}, {"state": "nope"}):
        with pytest.raises(ValidationError):
            await client.list_jobs(**bad)  # type: ignore[arg-type]


async def test_retry_makes_failed_jobs_available_again(client, db) -> None:
    job = await client.insert(SendEmail("a", "b"))
    force_running(db, job.id)
    force_failed(db, job.id)
    retried = await client.retry(job.id)
    assert (retried.state, retried.attempt, retried.run_lease) == (JobState.AVAILABLE, 0, 1)
    assert (await client.retry(job.id)).state is JobState.AVAILABLE  # idempotent
    later = await client.insert(SendEmail("a", "b"), run_at=awa_hours(1))
    assert (await client.retry(later.id)).state is JobState.AVAILABLE
    with pytest.raises(JobNotFound):
        await client.retry(999_999)


async def test_retry_refuses_running_and_completed(client, db) -> None:
    job = await client.insert(SendEmail("a", "b"))
    force_running(db, job.id)
    with pytest.raises(InvalidStateError) as caught:
        await client.retry(job.id)
    assert caught.value.state == "running"


async def test_cancel_available_scheduled_and_idempotent(client, db) -> None:
    now = await client.insert(SendEmail("a", "b"))
    later = await client.insert(SendEmail("a", "b"), run_at=awa_hours(1))
    for job in (now, later):
        cancelled = await client.cancel(job.id, reason="no longer needed")
        assert cancelled.state is JobState.CANCELLED
        assert cancelled.finalized_at is not None
        assert cancelled.errors[-1]["message"] == "no longer needed"
        assert (await client.cancel(job.id)).state is JobState.CANCELLED
    partitions = db.execute(
        "SELECT tableoid::regclass::text AS part FROM awa.jobs_terminal"
    ).fetchall()
    assert all(not r["part"].endswith("_default") for r in partitions)
    with pytest.raises(JobNotFound):
        await client.cancel(999_999)
    with pytest.raises(ValidationError):
        await client.cancel(now.id, reason="x\x00")


async def test_cancel_of_a_running_job_notifies_its_worker(client, db, database_url) -> None:
    job = await client.insert(SendEmail("a", "b"))
    lease = force_running(db, job.id)
    conn = await AnyioConnection.connect(database_url, autocommit=True)
    try:
        await conn.execute('LISTEN "awa:cancel"')
        await client.cancel(job.id)
        gen = conn.notifies(timeout=5, stop_after=1)
        notes = [n async for n in gen]
        await gen.aclose()
    finally:
        await conn.close()
    assert [json.loads(n.payload) for n in notes] == [{"job_id": job.id, "run_lease": lease}]
    assert job_state(db, job.id) == "cancelled"


async def test_cancel_refuses_finished_jobs(client, db) -> None:
    job = await client.insert(SendEmail("a", "b"))
    force_failed(db, job.id)
    with pytest.raises(InvalidStateError, match="failed"):
        await client.cancel(job.id)


async def test_cancel_by_unique_key(client: awa.AsyncClient) -> None:
    args = SendEmail(to="alice@example.com", subject="Welcome")
    job = await client.insert(args, queue="email", unique_opts={"by_args": True, "by_queue": True})
    assert await client.cancel_by_unique_key("send_email", args=args) is None  # key differs
    found = await client.cancel_by_unique_key("send_email", queue="email", args=args)
    assert found is not None
    assert found.id == job.id
    assert found.state is JobState.CANCELLED
    assert await client.cancel_by_unique_key("send_email", queue="email", args=args) is None
    with pytest.raises(ValidationError):
        await client.cancel_by_unique_key("", args=args)


async def test_retry_failed_and_discard_failed(client, db) -> None:
    ids = (await client.insert_many([SendEmail(str(i), "s") for i in range(5)])).ids
    other = await client.insert({"n": 1}, kind="other")
    for job_id in (*ids, other.id):
        force_failed(db, job_id)
    progress: list[int] = []
    result = await client.retry_failed(kind="send_email", batch_size=2, on_progress=progress.append)
    assert (result.retried, result.unique_conflicts) == (5, 0)
    assert progress == [2, 4, 5]
    assert {job_state(db, i) for i in ids} == {"available"}
    assert job_state(db, other.id) == "failed"
    assert await client.discard_failed("other") == 1
    assert job_state(db, other.id) is None
    with pytest.raises(ValidationError):
        await client.retry_failed(batch_size=0)


async def test_retry_failed_leaves_jobs_whose_key_is_taken(client, db) -> None:
    old = await client.insert(SendEmail("u", "x"), unique_opts={"by_args": True})
    force_failed(db, old.id)
    await client.insert(SendEmail("u", "x"), unique_opts={"by_args": True})
    result = await client.retry_failed()
    assert (result.retried, result.unique_conflicts) == (0, 1)
    assert job_state(db, old.id) == "failed"


async def test_pause_resume_drain_and_stats(client, db) -> None:
    await client.insert_many([SendEmail(str(i), "s") for i in range(3)], queue="mail")
    await client.insert(SendEmail("later", "s"), queue="mail", run_at=awa_hours(1))
    running = await client.insert(SendEmail("busy", "s"), queue="mail")
    force_running(db, running.id)
    await client.pause_queue("mail", paused_by="ops")
    (stat,) = [s for s in await client.queue_stats() if s.queue == "mail"]
    assert (stat.available, stat.scheduled, stat.running, stat.paused) == (3, 1, 1, True)
    assert stat.total_queued == 5
    assert stat.lag_seconds >= 0
    progress: list[int] = []
    assert await client.drain_queue("mail", on_progress=progress.append) == 4
    assert progress == [4]
    assert job_state(db, running.id) == "running"
    await client.resume_queue("mail")
    (stat,) = [s for s in await client.queue_stats() if s.queue == "mail"]
    assert (stat.available, stat.running, stat.paused) == (0, 1, False)
    with pytest.raises(ValidationError):
        await client.pause_queue("")


def awa_hours(n: int):
    from datetime import timedelta

    return timedelta(hours=n)
