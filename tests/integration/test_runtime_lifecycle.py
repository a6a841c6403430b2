"""Shutdown (drain, hand back), the leader's maintenance (promote, rescue,
cleanup, aging) and leader failover."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

import awa
from awa import JobState
from awa._db.connection import AnyioConnection
from awa._db.executor_async import AsyncExecutor
from awa._runtime.leader import Leader, LeaderConfig
from awa._runtime.signals import Signals
from awa._runtime.spec_trace import SpecTrace
from tests.helpers import force_running
from tests.runtime_helpers import fast, wait_finalized, wait_signal

pytestmark = pytest.mark.pg


@dataclass
class Task:
    n: int


async def test_graceful_shutdown_drains_with_heartbeats_and_claims_nothing_new(client) -> None:
    release = anyio.Event()
    started = anyio.Event()

    @client.worker(Task)
    async def handle(job: awa.JobContext) -> None:
        started.set()
        await release.wait()

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        running = await client.insert(Task(1))
        with anyio.fail_after(10):
            await started.wait()
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.shutdown, 30)
            runtime = client.runtime
            assert runtime is not None
            await wait_signal(client, "draining")
            beats = runtime.heartbeater.beats
            late = await client.insert(Task(2))  # arrives during the drain
            await wait_signal(client, "heartbeat", alive=1)  # still beating while draining
            assert runtime.heartbeater.beats > beats
            release.set()
        assert (await client.get_job(running.id)).state is JobState.COMPLETED
        assert (await client.get_job(late.id)).state is JobState.AVAILABLE  # never claimed


async def test_unfinished_jobs_are_handed_back_and_run_elsewhere_at_once(
    client, database_url: str
) -> None:
    first_worker = anyio.Event()

    @client.worker(Task)
    async def stuck(job: awa.JobContext) -> None:
        first_worker.set()
        await anyio.sleep_forever()

    other = awa.AsyncClient(database_url)
    finished_elsewhere = anyio.Event()

    @other.worker(Task)
    async def finish(job: awa.JobContext) -> None:
        assert job.attempt == 1  # the handed-back attempt was given back
        finished_elsewhere.set()

    # Staleness of a minute: only the hand-back can explain a quick second run.
    slow_rescue = fast(heartbeat_interval=20, heartbeat_staleness=60, rescue_interval=60)
    async with client, other:
        client.start(["default"], **slow_rescue)
        await client.wait_started()
        job = await client.insert(Task(1))
        with anyio.fail_after(10):
            await first_worker.wait()
        other.start(["default"], **slow_rescue)
        await other.wait_started()
        await client.shutdown(timeout=0.2)
        handed = await client.get_job(job.id)
        assert handed.state in (JobState.AVAILABLE, JobState.RUNNING, JobState.COMPLETED)
        await wait_finalized(other, job.id, "complete")
        done = await other.get_job(job.id)
    assert (done.state, done.attempt, done.run_lease) == (JobState.COMPLETED, 1, 2)


async def test_scheduled_jobs_are_promoted_when_due(client) -> None:
    @client.worker(Task)
    async def handle(job: awa.JobContext) -> None:
        pass

    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        await wait_signal(client, "leader_elected")
        job = await client.insert(Task(1), run_at=timedelta(seconds=0.3))
        assert job.state is JobState.SCHEDULED
        await wait_finalized(client, job.id, "complete")
        done = await client.get_job(job.id)
    assert done.attempted_at is not None
    assert done.attempted_at >= job.run_at


async def test_a_dead_workers_jobs_are_rescued(client, db) -> None:
    @client.worker(Task)
    async def handle(job: awa.JobContext) -> None:
        pass

    await client.pause_queue("default")
    alive = await client.insert(Task(1))
    exhausted = await client.insert(Task(2), max_attempts=1)
    overdue = await client.insert(Task(3))
    for job in (alive, exhausted, overdue):
        force_running(db, job.id)
    # Their worker died an hour ago (heartbeats stopped), or ran past its deadline.
    db.execute(
        "UPDATE awa.jobs_hot SET heartbeat_at = now() - interval '1 hour' WHERE id = ANY(%s)",
        ([alive.id, exhausted.id],),
    )
    db.execute(
        "UPDATE awa.jobs_hot SET deadline_at = now() - interval '1 second' WHERE id = %s",
        (overdue.id,),
    )
    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        rescued = {
            job.id: await wait_signal(client, "job_rescued", id=job.id)
            for job in (alive, exhausted, overdue)
        }
        states = {job.id: await client.get_job(job.id) for job in (alive, exhausted, overdue)}
    assert rescued[alive.id]["state"] == "retryable"
    assert states[alive.id].errors[-1]["type"] == "HeartbeatStale"
    assert states[alive.id].run_at > datetime.now(UTC)  # with backoff
    assert states[exhausted.id].state is JobState.FAILED  # attempts used up: no extra run
    assert states[overdue.id].errors[-1]["type"] == "DeadlineExceeded"


async def test_leadership_moves_when_the_leader_connection_dies(client, database_url, db) -> None:
    second = awa.AsyncClient(database_url)
    done = anyio.Event()
    for each in (client, second):

        @each.worker(Task)
        async def handle(job: awa.JobContext) -> None:
            done.set()

    async with client, second:
        client.start(["default"], **fast())
        await client.wait_started()
        await wait_signal(client, "leader_elected")
        second.start(["default"], **fast())
        await second.wait_started()
        first_runtime, second_runtime = client.runtime, second.runtime
        assert first_runtime is not None
        assert second_runtime is not None
        assert first_runtime.is_leader
        assert not second_runtime.is_leader
        holder = db.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
        db.execute("SELECT pg_terminate_backend(%s, 5000)", (holder["pid"],))
        await wait_signal(second, "leader_elected")
        assert second_runtime.is_leader
        # A scheduled job needs a live leader to be promoted, then either worker runs
        # it. (The old leader may still promote it before its liveness check fails:
        # two leaders for a moment are harmless, every maintenance step is atomic.)
        await client.insert(Task(1), run_at=timedelta(seconds=0.2))
        with anyio.fail_after(20):
            await done.wait()


def lone_leader_options() -> dict[str, Any]:
    return {"signals": Signals(), "trace": SpecTrace(None), "worker": "w"}


async def cancel_once(leader: Leader, reached: anyio.Event) -> None:
    """Run ``leader`` alone until it sets ``reached``, then cancel it."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(leader.run)
        with anyio.fail_after(10):
            await reached.wait()
        tg.cancel_scope.cancel()


async def test_a_leader_cancelled_while_setting_up_its_lock_session_closes_it(
    database_url: str,
) -> None:
    entered = anyio.Event()
    opened: list[AnyioConnection] = []

    class StuckLeader(Leader):
        async def _limit_idle(self, executor: AsyncExecutor) -> None:
            opened.append(executor.conn)
            entered.set()
            await anyio.sleep_forever()

    leader = StuckLeader(LeaderConfig(conninfo=database_url), [], **lone_leader_options())
    await cancel_once(leader, entered)
    assert [conn.closed for conn in opened] == [True]
    assert not leader.is_leader


async def test_a_leader_whose_unlock_hangs_still_closes_its_lock_session(
    database_url: str,
) -> None:
    leading = anyio.Event()
    unlocking = anyio.Event()
    opened: list[AnyioConnection] = []

    class HungUnlockLeader(Leader):
        async def _lead(self, executor: AsyncExecutor) -> None:
            opened.append(executor.conn)
            self.is_leader = True
            leading.set()
            await anyio.sleep_forever()

        async def _unlock(self, executor: AsyncExecutor) -> None:
            unlocking.set()
            await anyio.sleep_forever()  # a server that never answers

    config = LeaderConfig(conninfo=database_url, check_timeout=0.2)
    leader = HungUnlockLeader(config, [], **lone_leader_options())
    await cancel_once(leader, leading)
    assert unlocking.is_set()
    assert [conn.closed for conn in opened] == [True]
    assert not leader.is_leader


async def test_cleaner_applies_per_queue_retention(client, db) -> None:
    @client.worker(Task)
    async def handle(job: awa.JobContext) -> None:
        pass

    old_default = await client.insert(Task(1))
    old_short = await client.insert(Task(2), queue="short")
    for job in (old_default, old_short):
        await client.cancel(job.id)
    db.execute("UPDATE awa.jobs_terminal SET finalized_at = now() - interval '2 hours'")
    async with client:
        client.start(
            ["default", {"name": "short", "failed_retention": 3600}],
            **fast(failed_retention=3 * 3600),
        )
        await client.wait_started()
        cleaned = await wait_signal(client, "cleaned")  # the leader's first round
    assert cleaned["rows_deleted"] == 1
    remaining = [r["id"] for r in db.execute("SELECT id FROM awa.jobs").fetchall()]
    assert remaining == [old_default.id]


async def test_priority_aging_lifts_long_waiting_jobs(client, db) -> None:
    @client.worker(Task, queue="aging")
    async def handle(job: awa.JobContext) -> None:
        pass

    await client.pause_queue("aging")
    waited = await client.insert(
        Task(1), queue="aging", priority=4, run_at=datetime.now(UTC) - timedelta(seconds=25)
    )
    fresh = await client.insert(Task(2), queue="aging", priority=4)
    async with client:
        client.start([{"name": "aging", "priority_aging_interval": 10}], **fast())
        await client.wait_started()
        runtime = client.runtime
        assert runtime is not None
        assert await runtime.ager.run_once() == 1
        aged = await client.get_job(waited.id)
        assert (aged.priority, aged.metadata["_awa_original_priority"]) == (2, 4)
        assert await runtime.ager.run_once() == 0  # idempotent until more time passes
        assert (await client.get_job(fresh.id)).priority == 4
