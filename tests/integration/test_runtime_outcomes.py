"""The handler contract (DESIGN §7) on a running worker, under asyncio and trio."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import pytest

import awa
from awa import JobState
from tests.helpers import SendEmail
from tests.runtime_helpers import fast, wait_finalized

pytestmark = pytest.mark.pg


@dataclass
class Work:
    n: int


class Boom(Exception):
    pass


class Fatal(awa.TerminalError):
    pass


async def test_structured_form_runs_a_job(client: awa.AsyncClient) -> None:
    ran = anyio.Event()

    @client.worker(SendEmail, queue="email")
    async def handle(job: awa.JobContext) -> None:
        assert isinstance(job.args, SendEmail)
        assert (job.args.to, job.kind, job.queue, job.attempt) == (
            "a@b.c",
            "send_email",
            "email",
            1,
        )
        assert job.lease == awa.LeaseToken(job.id, 1)
        ran.set()

    async with client:
        client.start([("email", 2)], **fast())
        await client.wait_started()
        job = await client.insert(SendEmail("a@b.c", "hi"), queue="email")
        await wait_finalized(client, job.id, "complete")
        assert ran.is_set()
        done = await client.get_job(job.id)
        assert (done.state, done.attempt, done.progress) == (JobState.COMPLETED, 1, None)
        assert done.finalized_at is not None


async def test_outcomes_map_to_states(client: awa.AsyncClient) -> None:
    @client.worker(Work)
    async def handle(job: awa.JobContext) -> object:
        match job.args.n:
            case 1:
                return None
            case 2:
                return awa.Snooze(3600)
            case 3:
                return awa.Cancel("not needed")
            case 4:
                raise Boom("transient")
            case 5:
                raise Fatal("bad input")
            case 6:
                return awa.RetryAfter(3600)
        return "any other value completes"

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        ids = (await client.insert_many([Work(n) for n in range(1, 8)])).ids
        for job_id in ids:
            await wait_finalized(client, job_id)
        jobs = [await client.get_job(i) for i in ids]
        await client.shutdown()
    completed, snoozed, cancelled, retried, failed, after, other = jobs
    assert completed.state is JobState.COMPLETED
    assert (snoozed.state, snoozed.attempt) == (JobState.SCHEDULED, 0)  # attempt given back
    assert snoozed.run_at > datetime.now(UTC)
    assert (cancelled.state, cancelled.errors[-1]["message"]) == (JobState.CANCELLED, "not needed")
    assert retried.state is JobState.RETRYABLE
    entry = retried.errors[-1]
    assert (entry["type"], entry["message"], entry["attempt"], entry["terminal"]) == (
        "Boom",
        "transient",
        1,
        False,
    )
    assert "raise Boom" in entry["traceback"]
    assert 1.5 < (retried.run_at - retried.finalized_at).total_seconds() < 3  # 2^1 s + jitter
    assert (failed.state, failed.errors[-1]["terminal"]) == (JobState.FAILED, True)
    assert (after.state, after.attempt, after.errors) == (JobState.RETRYABLE, 1, ())
    assert other.state is JobState.COMPLETED


async def test_retry_after_is_bounded_by_max_attempts(client: awa.AsyncClient) -> None:
    runs: list[int] = []

    @client.worker(Work)
    async def handle(job: awa.JobContext) -> awa.RetryAfter:
        runs.append(job.attempt)
        return awa.RetryAfter(0)

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        job = await client.insert(Work(1), max_attempts=3)
        await wait_finalized(client, job.id, "fail")
        failed = await client.get_job(job.id)
    assert runs == [1, 2, 3]
    assert failed.state is JobState.FAILED
    assert "max_attempts exhausted" in failed.errors[-1]["message"]


async def test_exceptions_exhaust_into_failed(client: awa.AsyncClient) -> None:
    @client.worker(Work)
    async def handle(job: awa.JobContext) -> None:
        raise Boom(f"attempt {job.attempt}")

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        job = await client.insert(Work(1), max_attempts=1)
        await wait_finalized(client, job.id, "fail")
        failed = await client.get_job(job.id)
    assert (failed.state, [e["message"] for e in failed.errors]) == (JobState.FAILED, ["attempt 1"])


async def test_unknown_kind_and_bad_args_fail_clearly(client: awa.AsyncClient) -> None:
    @client.worker(Work)
    async def handle(job: awa.JobContext) -> None:
        raise AssertionError("must not run")  # pragma: no cover

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        unknown = await client.insert({"x": 1}, kind="nobody_handles_this")
        bad_args = await client.insert({"n": "not a number", "extra": 1}, kind="work")
        await wait_finalized(client, unknown.id, "fail")
        await wait_finalized(client, bad_args.id, "fail")
        first = (await client.get_job(unknown.id)).errors[-1]
        second = (await client.get_job(bad_args.id)).errors[-1]
    assert (first["type"], first["terminal"]) == ("UnknownJobKind", True)
    assert "nobody_handles_this" in first["message"]
    assert second["type"] == "ArgsDecodeError"
    assert "Work" in second["message"]


async def test_priority_order_and_queue_isolation(client: awa.AsyncClient) -> None:
    order: list[int] = []
    all_ran = anyio.Event()

    @client.worker(Work, queue="ordered")
    async def handle(job: awa.JobContext) -> None:
        order.append(job.args.n)
        if len(order) == 5:
            all_ran.set()

    await client.pause_queue("ordered")
    for priority in (4, 1, 3, 2, 1):
        await client.insert(Work(priority), queue="ordered", priority=priority)
    elsewhere = await client.insert(Work(0), queue="elsewhere")
    async with client:
        client.start([("ordered", 1)], **fast())
        await client.wait_started()
        await client.resume_queue("ordered")
        with anyio.fail_after(20):
            await all_ran.wait()
        assert (await client.get_job(elsewhere.id)).state is JobState.AVAILABLE
    assert order == [1, 1, 2, 3, 4]


async def test_paused_queue_is_not_claimed(client: awa.AsyncClient) -> None:
    ran = anyio.Event()

    @client.worker(Work)
    async def handle(job: awa.JobContext) -> None:
        ran.set()

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        await client.pause_queue("default")
        job = await client.insert(Work(1))
        runtime = client.runtime
        assert runtime is not None
        await runtime.dispatchers["default"].run_once()  # a claim finds nothing
        assert (await client.get_job(job.id)).state is JobState.AVAILABLE
        await client.resume_queue("default")  # notifies: claimed at once
        await wait_finalized(client, job.id, "complete")
    assert ran.is_set()


async def test_polling_without_listen(client: awa.AsyncClient) -> None:
    @client.worker(Work)
    async def handle(job: awa.JobContext) -> None:
        pass

    async with client:
        client.start([{"name": "default", "poll_interval": 0.05}], **fast(listen=False))
        await client.wait_started()
        health = await client.health_check()
        assert health.healthy
        job = await client.insert(Work(1))
        later = await client.insert(Work(2), run_at=awa_seconds(0.2))
        await wait_finalized(client, job.id, "complete")
        await wait_finalized(client, later.id, "complete")


async def test_sync_def_handlers_run_in_threads(client: awa.AsyncClient) -> None:
    import threading

    main = threading.get_ident()
    seen: list[int] = []

    @client.worker(Work)
    def handle(job: awa.JobContext) -> awa.Snooze | None:
        seen.append(threading.get_ident())
        job.set_progress(50, "half")
        assert job.flush_progress_sync()
        return None

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        job = await client.insert(Work(1))
        await wait_finalized(client, job.id, "complete")
    assert seen
    assert seen[0] != main


def awa_seconds(value: float):
    from datetime import timedelta

    return timedelta(seconds=value)
