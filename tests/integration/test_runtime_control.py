"""Progress, cancellation (admin, lost lease, deadline), hooks, health and the
sync client's workers."""

from __future__ import annotations

import json
from dataclasses import dataclass

import anyio
import pytest

import awa
from awa import JobState
from tests.runtime_helpers import fast, wait_finalized, wait_signal

pytestmark = pytest.mark.pg


@dataclass
class Step:
    n: int


async def test_progress_is_kept_across_retries_and_cleared_on_completion(client) -> None:
    seen: list[object] = []
    second_attempt = anyio.Event()
    release = anyio.Event()

    @client.worker(Step)
    async def handle(job: awa.JobContext) -> awa.RetryAfter | None:
        seen.append(job.progress)
        if job.attempt == 1:
            job.set_progress(40, "first pass")
            job.update_metadata({"cursor": 10})
            job.update_metadata({"batch": "a"})
            assert await job.flush_progress()
            return awa.RetryAfter(0)
        second_attempt.set()
        await release.wait()
        return None

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        job = await client.insert(Step(1))
        with anyio.fail_after(20):
            await second_attempt.wait()
        retried = await client.get_job(job.id)  # running again, checkpoint kept
        release.set()
        await wait_finalized(client, job.id, "complete")
        done = await client.get_job(job.id)
    checkpoint = {"percent": 40, "message": "first pass", "metadata": {"cursor": 10, "batch": "a"}}
    assert (retried.attempt, retried.progress) == (2, checkpoint)
    assert seen == [None, checkpoint]
    assert done.progress is None


async def test_progress_rides_on_heartbeats(client) -> None:
    release = anyio.Event()

    @client.worker(Step)
    async def handle(job: awa.JobContext) -> None:
        job.set_progress(70)
        await release.wait()

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        job = await client.insert(Step(1))
        await wait_signal(client, "job_started", id=job.id)
        await wait_signal(client, "heartbeat", alive=1)
        assert (await client.get_job(job.id)).progress == {"percent": 70}
        release.set()
        await wait_finalized(client, job.id, "complete")


async def test_bad_progress_values_raise_in_the_handler(client) -> None:
    errors: list[str] = []

    @client.worker(Step)
    async def handle(job: awa.JobContext) -> None:
        for call in (
            lambda: job.set_progress(-1),
            lambda: job.set_progress("half"),
            lambda: job.update_metadata(["not", "a", "dict"]),
            lambda: job.update_metadata({"nul": "\x00"}),
        ):
            try:
                call()
            except awa.ValidationError as exc:
                errors.append(str(exc))
        job.set_progress(150)
        assert job.progress == {"percent": 100}

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        job = await client.insert(Step(1))
        await wait_finalized(client, job.id, "complete")
    assert len(errors) == 4


async def test_admin_cancel_stops_a_running_handler(client) -> None:
    stopped = anyio.Event()

    @client.worker(Step)
    async def handle(job: awa.JobContext) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            stopped.set()

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        job = await client.insert(Step(1))
        await wait_signal(client, "job_started", id=job.id)
        cancelled = await client.cancel(job.id)
        await wait_signal(client, "admin_cancelled", id=job.id)
        with anyio.fail_after(5):
            await stopped.wait()
        assert cancelled.state is JobState.CANCELLED
        assert (await client.get_job(job.id)).state is JobState.CANCELLED
        runtime = client.runtime
        assert runtime is not None
        assert len(runtime.inflight) == 0


async def test_a_forged_cancel_notice_does_not_stop_a_live_handler(client, db) -> None:
    """Any role may NOTIFY awa:cancel; the watcher acts only once the database
    confirms the attempt lost its job."""
    release = anyio.Event()

    @client.worker(Step)
    async def handle(job: awa.JobContext) -> None:
        await release.wait()

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        job = await client.insert(Step(1))
        started = await wait_signal(client, "job_started", id=job.id)
        forged = json.dumps({"job_id": job.id, "run_lease": started["lease"]})
        db.execute("SELECT pg_notify('awa:cancel', %s)", (forged,))
        await wait_signal(client, "cancel_notice_ignored", id=job.id)
        release.set()
        await wait_finalized(client, job.id, "complete")
        assert not client._signals.seen("admin_cancelled")
        assert (await client.get_job(job.id)).state is JobState.COMPLETED


async def test_a_lost_lease_cancels_the_handler_and_writes_nothing(client, db) -> None:
    stopped = anyio.Event()

    @client.worker(Step)
    async def handle(job: awa.JobContext) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            stopped.set()

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        job = await client.insert(Step(1))
        await wait_signal(client, "job_started", id=job.id)
        # Another worker took the job over (as after a rescue and a new claim).
        db.execute("UPDATE awa.jobs_hot SET run_lease = run_lease + 1 WHERE id = %s", (job.id,))
        await wait_signal(client, "lease_lost", id=job.id)
        with anyio.fail_after(5):
            await stopped.wait()
        row = db.execute(
            "SELECT state, run_lease FROM awa.jobs WHERE id = %s", (job.id,)
        ).fetchone()
    assert (row["state"], row["run_lease"]) == ("running", 2)  # untouched by the old attempt


async def test_a_hung_handler_hits_its_deadline(client) -> None:
    @client.worker(Step)
    async def handle(job: awa.JobContext) -> None:
        await anyio.sleep_forever()

    async with client:
        client.start([{"name": "default", "deadline": 0.3}], **fast())
        await client.wait_started()
        job = await client.insert(Step(1), max_attempts=1)
        await wait_finalized(client, job.id, "fail")
        failed = await client.get_job(job.id)
    assert failed.state is JobState.FAILED
    assert failed.errors[-1]["type"] == "DeadlineExceeded"


async def test_hooks_fire_after_commit_and_a_failing_hook_is_harmless(client) -> None:
    events: list[tuple[str, int, str]] = []

    @client.worker(Step)
    async def handle(job: awa.JobContext) -> object:
        return {1: None, 2: awa.Snooze(3600), 3: awa.Cancel("no")}.get(job.args.n)

    @client.on("completed")
    async def completed(event: awa.JobEvent) -> None:
        state = (await client.get_job(event.job.id)).state.value  # committed already
        events.append((event.event, event.job.id, state))

    def record(event: awa.JobEvent) -> None:
        events.append((event.event, event.job.id, ""))

    client.on("snoozed", record)
    client.on("cancelled", record, kind="step")
    client.on("completed", kind="other_kind")(record)

    @client.on("completed")
    def broken(event: awa.JobEvent) -> None:
        raise RuntimeError("hook bug")

    with pytest.raises(awa.ConfigError):
        client.on("exploded", record)

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        ids = (await client.insert_many([Step(1), Step(2), Step(3), Step(1)])).ids
        for job_id in ids:
            await wait_finalized(client, job_id)
        await client.shutdown()  # waits for running hooks
    assert sorted(events) == sorted(
        [
            ("completed", ids[0], "completed"),
            ("snoozed", ids[1], ""),
            ("cancelled", ids[2], ""),
            ("completed", ids[3], "completed"),
        ]
    )


async def test_health_check_reports_loops_and_queues(client) -> None:
    @client.worker(Step, queue="q1")
    async def handle(job: awa.JobContext) -> None:
        pass

    async with client:
        client.start([("q1", 3)], **fast())
        await client.wait_started()
        await wait_signal(client, "leader_elected")
        health = await client.health_check()
        assert health.healthy
        assert health.postgres_connected
        assert health.leader
        assert health.queues["q1"].max_workers == 3
        assert health.queues["q1"].dispatcher_alive
    with pytest.raises(awa.AwaError, match="not started"):
        await client.health_check()


async def test_start_validates_its_arguments(client) -> None:
    with pytest.raises(awa.ConfigError, match="register at least one handler"):
        client.start(["default"])

    @client.worker(Step)
    async def handle(job: awa.JobContext) -> None:
        pass

    for queues, options in [
        ([("q", 0)], {}),
        ([{"name": "q", "bogus": 1}], {}),
        (["q", "q"], {}),
        ([], {}),
        (["q"], {"heartbeat_interval": -1}),
        (["q"], {"heartbeat_interval": 10, "heartbeat_staleness": 15}),
        (["q"], {"no_such_option": 1}),
    ]:
        with pytest.raises(awa.ConfigError):
            client.start(queues, **options)
    with pytest.raises(awa.ConfigError, match="already registered"):
        client.worker(Step)(handle)
    with pytest.raises(awa.ConfigError, match="kind"):
        client.worker(dict)(handle)


async def test_start_under_trio_needs_the_structured_form(client, anyio_backend) -> None:
    @client.worker(Step)
    async def handle(job: awa.JobContext) -> None:
        pass

    if anyio_backend == "trio":
        with pytest.raises(awa.AwaError, match=r"async with awa\.AsyncClient"):
            client.start(["default"])
    else:
        client.start(["default"], **fast())  # the seed's form works under asyncio
        await client.wait_started()
        await client.shutdown()


def test_sync_client_runs_workers_in_a_background_thread(sync_client, db) -> None:
    import threading

    done = threading.Event()

    @sync_client.worker(Step)
    def handle(job: awa.JobContext) -> None:
        job.set_progress(100, "done")
        done.set()

    sync_client.start(["default"], **fast())
    job = sync_client.insert(Step(1))
    assert done.wait(20)
    assert sync_client.health_check().running
    sync_client.shutdown()
    assert sync_client.get_job(job.id).state is JobState.COMPLETED
