"""Cron on a real database: declarations from any process, fires exactly once
under competing leaders and failover, catch-up vs coalesce, pause/resume/trigger."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import pytest

import awa
from awa._runtime.db import Db
from awa._runtime.maintenance.cron import CronConfig, CronScheduler
from awa._runtime.signals import Signals
from awa._runtime.spec_trace import SpecTrace
from tests.runtime_helpers import fast, wait_signal

pytestmark = pytest.mark.pg


@dataclass
class Tick:
    label: str


def scheduler(client: awa.AsyncClient) -> CronScheduler:
    return CronScheduler(
        Db(client._pool), CronConfig(), listener=None, signals=Signals(), trace=SpecTrace()
    )


async def fire_times(db) -> list[str]:
    rows = db.execute(
        "SELECT metadata->>'cron_fire_time' AS t FROM awa.jobs"
        " WHERE metadata ? 'cron_fire_time' ORDER BY 1"
    ).fetchall()
    return [r["t"] for r in rows]


async def test_a_declared_schedule_fires_and_runs(client, db) -> None:
    ran = anyio.Event()

    @client.worker(Tick)
    async def handle(job: awa.JobContext) -> None:
        assert job.metadata["cron_name"] == "every-second"
        ran.set()

    client.periodic("every-second", "* * * * * *", Tick, Tick("s"), tags=["cron"])
    async with client:
        client.start(["default"], **fast())
        await client.wait_started()
        fired = await wait_signal(client, "cron_fired", name="every-second")
        with anyio.fail_after(20):
            await ran.wait()
        (info,) = await client.list_cron_jobs()
        job = await client.get_job(fired["job"])
    assert (info.name, info.kind, info.paused) == ("every-second", "tick", False)
    assert info.next_fire_at is not None
    assert job.tags == ("cron",)


async def test_declarations_reach_the_database_without_leading(client, database_url) -> None:
    client.periodic("from-a-web-app", "0 6 * * *", Tick, Tick("w"), timezone="Europe/Paris")
    assert await client.sync_periodic() == 1
    assert await client.sync_periodic() == 1  # idempotent
    other = awa.AsyncClient(database_url)
    try:
        (info,) = await other.list_cron_jobs()
    finally:
        await other.close()
    assert (info.timezone, info.cron_expr) == ("Europe/Paris", "0 6 * * *")


async def test_competing_leaders_fire_each_time_exactly_once(client, db) -> None:
    client.periodic("minutely", "* * * * *", Tick, Tick("m"), missed_fire_policy="catch_up")
    await client.sync_periodic()
    db.execute(
        "UPDATE awa.cron_jobs"
        " SET last_enqueued_at = date_trunc('minute', now()) - interval '30 minutes'"
    )
    a, b = scheduler(client), scheduler(client)
    fired: list[int] = []

    async def lead(s: CronScheduler) -> None:
        for _ in range(5):
            fired.append((await s.run_once()).fired)

    async with anyio.create_task_group() as tg:
        tg.start_soon(lead, a)
        tg.start_soon(lead, b)
    times = await fire_times(db)
    assert len(times) == 30
    assert len(set(times)) == 30  # no fire enqueued twice
    assert sum(fired) == 30


async def test_coalesce_enqueues_only_the_latest_missed_fire(client, db) -> None:
    client.periodic("coalesced", "* * * * *", Tick, Tick("c"))
    await client.sync_periodic()
    db.execute(
        "UPDATE awa.cron_jobs"
        " SET last_enqueued_at = date_trunc('minute', now()) - interval '30 minutes'"
    )
    assert (await scheduler(client).run_once()).fired == 1
    assert (await scheduler(client).run_once()).fired == 0


async def test_pause_resume_and_manual_trigger(client, db) -> None:
    client.periodic("paused", "* * * * *", Tick, Tick("p"))
    await client.sync_periodic()
    db.execute(
        "UPDATE awa.cron_jobs"
        " SET last_enqueued_at = date_trunc('minute', now()) - interval '5 minutes'"
    )
    info = await client.pause_cron("paused", paused_by="ops")
    assert (info.paused, info.paused_by, info.next_fire_at) == (True, "ops", None)
    assert (await scheduler(client).run_once()).fired == 0
    manual = await client.trigger_cron("paused")
    assert manual.metadata["triggered_manually"] is True
    assert (await client.get_cron_job("paused")).last_enqueued_at is not None
    await client.sync_periodic()  # a sync keeps the pause
    assert (await client.get_cron_job("paused")).paused
    await client.resume_cron("paused")
    assert (await scheduler(client).run_once()).fired == 1  # coalesced backlog
    assert await client.remove_cron("paused")
    assert not await client.remove_cron("paused")
    for call in (client.pause_cron, client.resume_cron, client.trigger_cron, client.get_cron_job):
        with pytest.raises(awa.CronNotFound):
            await call("paused")


async def test_fires_continue_once_after_leader_failover(client, database_url, db) -> None:
    second = awa.AsyncClient(database_url)
    for each in (client, second):

        @each.worker(Tick)
        async def handle(job: awa.JobContext) -> None:
            pass

        each.periodic("every-second", "* * * * * *", Tick, Tick("f"))
    async with client, second:
        client.start(["default"], **fast())
        await client.wait_started()
        await wait_signal(client, "cron_fired")
        second.start(["default"], **fast())
        await second.wait_started()
        holder = db.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
        db.execute("SELECT pg_terminate_backend(%s, 5000)", (holder["pid"],))
        await wait_signal(second, "leader_elected")
        await wait_signal(second, "cron_fired")
        await client.shutdown()
        await second.shutdown()
    times = await fire_times(db)
    assert len(times) == len(set(times))  # never two jobs for one fire time
