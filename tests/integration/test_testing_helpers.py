"""awa.testing: jobs run inline through the workers' claim, runner and fenced
writes; assertions on what was enqueued; the fake clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import awa
from awa.testing import AwaTestClient, SyncAwaTestClient
from tests.helpers import SendEmail

pytestmark = pytest.mark.pg


@dataclass
class Charge:
    order: int


class CardDeclined(awa.TerminalError):
    pass


@pytest.fixture
def tester(client) -> AwaTestClient:
    return AwaTestClient(client)


async def test_work_one_runs_a_job_to_completion(client, tester) -> None:
    seen: list[tuple[str, int]] = []

    @client.worker(SendEmail, queue="email")
    async def send(job: awa.JobContext) -> None:
        seen.append((job.args.to, job.attempt))

    job = await client.insert(SendEmail("a@example.com", "Hi"), queue="email")
    result = await tester.work_one()
    assert result.outcome == "completed"
    assert result.job is not None
    assert result.job.id == job.id
    assert result.job.state == awa.JobState.COMPLETED
    assert result.exception is None
    assert seen == [("a@example.com", 1)]
    assert (await tester.work_one()).outcome == "no_job"


async def test_a_raising_handler_retries_after_the_clock_moves(client, tester) -> None:
    attempts: list[int] = []

    @client.worker(Charge)
    async def charge(job: awa.JobContext) -> None:
        attempts.append(job.attempt)
        if job.attempt == 1:
            raise ConnectionError("gateway timeout")

    await client.insert(Charge(1))
    result = await tester.work_one()
    assert result.outcome == "retryable"
    assert isinstance(result.exception, ConnectionError)
    assert result.error is not None
    assert result.error["type"] == "ConnectionError"
    assert await tester.drain() == []  # the retry waits for its backoff
    await tester.advance(hours=1)
    [retried] = await tester.drain()
    assert retried.outcome == "completed"
    assert attempts == [1, 2]


async def test_terminal_errors_snoozes_and_cancels(client, tester) -> None:
    @client.worker(Charge)
    async def charge(job: awa.JobContext) -> object:
        if job.args.order == 1:
            raise CardDeclined("card declined")
        if job.args.order == 2:
            return awa.Snooze(600)
        return awa.Cancel("order withdrawn")

    for order in (1, 2, 3):
        await client.insert(Charge(order))
    outcomes = [r.outcome for r in await tester.drain()]
    assert outcomes == ["failed", "snoozed", "cancelled"]
    snoozed = await tester.assert_enqueued(kind="charge", state="scheduled", count=1)
    assert snoozed[0].attempt == 0  # a snooze gives the attempt back
    assert await tester.advance(minutes=10) == 1
    assert [r.outcome for r in await tester.drain()] == ["snoozed"]


async def test_scheduled_jobs_wait_for_the_fake_clock(client, tester) -> None:
    from datetime import timedelta

    @client.worker(SendEmail)
    async def send(job: awa.JobContext) -> None:
        pass

    await client.insert(SendEmail("later@example.com", "Reminder"), run_at=timedelta(days=1))
    assert await tester.drain() == []
    tester.clock.advance(timedelta(hours=23))
    assert await tester.drain() == []
    tester.clock.advance(hours=2)
    assert [r.outcome for r in await tester.drain()] == ["completed"]


async def test_drain_runs_what_handlers_enqueue_in_claim_order(client, tester) -> None:
    order: list[str] = []

    @client.worker(Charge, queue="payments")
    async def charge(job: awa.JobContext) -> None:
        order.append(f"charge {job.args.order}")
        await client.insert(SendEmail("buyer@example.com", f"Receipt {job.args.order}"))

    @client.worker(SendEmail)
    async def send(job: awa.JobContext) -> None:
        order.append(job.args.subject)

    await client.insert(Charge(1), queue="payments", priority=3)
    await client.insert(Charge(2), queue="payments", priority=1)
    results = await tester.drain()
    assert len(results) == 4
    assert order == ["charge 2", "Receipt 2", "charge 1", "Receipt 1"]


async def test_writes_are_fenced_by_the_lease(client, tester) -> None:
    @client.worker(Charge)
    async def charge(job: awa.JobContext) -> None:
        await client.cancel(job.id)  # an admin cancels while it runs

    job = await client.insert(Charge(1))
    result = await tester.work_one()
    # the handler returned normally, but its completion no longer held the lease
    assert result.outcome == "cancelled"
    assert (await client.get_job(job.id)).state == awa.JobState.CANCELLED


async def test_hooks_progress_and_sync_handlers(client, tester) -> None:
    events: list[tuple[str, int]] = []

    @client.worker(Charge)
    def charge(job: awa.JobContext) -> None:  # a plain def handler: a worker thread
        job.set_progress(50, "half way")
        job.update_metadata({"step": 1})
        assert job.flush_progress_sync()
        raise RuntimeError("stop here")

    client.on("retried", lambda event: events.append((event.event, event.job.id)))
    job = await client.insert(Charge(1))
    result = await tester.work_one()
    assert result.outcome == "retryable"
    assert events == [("retried", job.id)]
    assert result.job is not None
    assert result.job.progress == {"percent": 50, "message": "half way", "metadata": {"step": 1}}


async def test_unknown_kinds_fail_as_on_a_worker(client, tester) -> None:
    @client.worker(SendEmail)
    async def send(job: awa.JobContext) -> None:
        pass

    await client.insert({"x": 1}, kind="nobody_handles_this")
    [result] = await tester.drain()
    assert result.outcome == "failed"
    assert result.error is not None
    assert result.error["type"] == "UnknownJobKind"


async def test_handlers_of_another_client(client, database_url) -> None:
    app = awa.AsyncClient(database_url)  # the application's client, never opened here
    ran: list[int] = []

    @app.worker(Charge)
    async def charge(job: awa.JobContext) -> None:
        ran.append(job.args.order)

    tester = AwaTestClient(client, handlers=app)
    await client.insert(Charge(5))
    assert [r.outcome for r in await tester.drain()] == ["completed"]
    assert ran == [5]


async def test_assert_enqueued(client, tester) -> None:
    await client.insert(SendEmail("a@example.com", "Welcome"), queue="email", priority=1)
    await client.insert(SendEmail("b@example.com", "Welcome"), queue="email")

    jobs = await tester.assert_enqueued(kind="send_email", args={"subject": "Welcome"}, count=2)
    assert [j.args["to"] for j in jobs] == ["a@example.com", "b@example.com"]
    [job] = await tester.assert_enqueued(args=SendEmail("a@example.com", "Welcome"))
    assert job.priority == 1
    await tester.assert_enqueued(kind="send_email", queue="email", priority=1, count=1)
    await tester.assert_not_enqueued(kind="send_email", args={"to": "c@example.com"})
    await tester.assert_not_enqueued(kind="send_email", queue="default")

    with pytest.raises(AssertionError, match=r"(?s)exactly 3 job.*#\d+ send_email queue=email"):
        await tester.assert_enqueued(kind="send_email", count=3)
    with pytest.raises(AssertionError, match="expected no matching job, found 1"):
        await tester.assert_not_enqueued(args=SendEmail("b@example.com", "Welcome"))
    with pytest.raises(AssertionError, match="at least one"):
        await tester.assert_enqueued(args=SendEmail("a@example.com", "Bye"))


async def test_finished_jobs_are_not_enqueued(client, tester) -> None:
    @client.worker(SendEmail)
    async def send(job: awa.JobContext) -> None:
        pass

    await client.insert(SendEmail("a@example.com", "Hi"))
    await tester.drain()
    await tester.assert_not_enqueued(kind="send_email")
    await tester.assert_enqueued(kind="send_email", state=awa.JobState.COMPLETED)
    assert len(await tester.jobs(state=["completed", "failed"])) == 1


async def test_drain_stops_a_job_that_requeues_itself_forever(client, tester) -> None:
    @client.worker(Charge)
    async def charge(job: awa.JobContext) -> None:
        await client.insert(Charge(job.args.order + 1))

    await client.insert(Charge(0))
    with pytest.raises(awa.AwaError, match="after 5 attempts"):
        await tester.drain(max_jobs=5)


async def test_bad_use_is_refused(client, tester, sync_client) -> None:
    with pytest.raises(awa.AwaError, match="no handlers are registered"):
        await tester.work_one()
    with pytest.raises(awa.ValidationError, match="SyncAwaTestClient"):
        AwaTestClient(sync_client)  # type: ignore[arg-type]
    with pytest.raises(awa.ValidationError, match="forward"):
        tester.clock.advance(-5)
    with pytest.raises(awa.ValidationError):
        await tester.jobs(state="sleeping")


async def test_clean_forgets_everything(client, tester) -> None:
    await client.insert(SendEmail("a@example.com", "Hi"), unique_opts={"by_args": True})
    await tester.clean()
    assert await tester.jobs(state=list(awa.JobState)) == []
    await client.insert(SendEmail("a@example.com", "Hi"), unique_opts={"by_args": True})


def test_sync_test_client(sync_client) -> None:
    ran: list[str] = []

    @sync_client.worker(SendEmail)
    def send(job: awa.JobContext) -> None:
        ran.append(job.args.to)

    with SyncAwaTestClient(sync_client) as tester:
        sync_client.insert(SendEmail("a@example.com", "Hi"))
        tester.assert_enqueued(kind="send_email", count=1)
        [result] = tester.drain()
        assert result.outcome == "completed"
        assert tester.work_one().outcome == "no_job"
        tester.assert_not_enqueued(kind="send_email")
    assert ran == ["a@example.com"]
