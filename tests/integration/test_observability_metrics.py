"""OpenTelemetry metrics after a scripted workload, on a real runtime (asyncio and trio).

The SDK's in-memory reader collects what awa recorded; each metric's value
is asserted: exactly where the workload fixes it, as a lower bound where it
depends on timing (heartbeats, maintenance passes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import psycopg
import pytest

import awa
from awa import observability
from awa.observability import names as n
from tests.fixtures.fix_otel import Otel, points, recorded, total
from tests.helpers import force_running
from tests.runtime_helpers import fast, wait_finalized, wait_signal

pytestmark = pytest.mark.pg


@dataclass
class Step:
    mode: str


class Fatal(awa.TerminalError):
    pass


OBS = {n.QUEUE: "obs", n.KIND: "step"}
TASKS = ("promote", "rescue", "cleanup", "queue_depth", "queue_gauges")


def _ghost_rows(data: dict[str, Any]) -> bool:
    rows = data["rows"] or []
    return any(r["queue"] == "ghost" and r["state"] == "available" and r["jobs"] == 2 for r in rows)


async def test_every_metric_is_recorded_after_a_scripted_workload(
    client: awa.AsyncClient, db: psycopg.Connection[Any], otel: Otel
) -> None:
    holding, release = anyio.Event(), anyio.Event()
    calls: dict[int, int] = {}

    @client.worker(Step, queue="obs")
    async def handle(job: awa.JobContext) -> object:
        calls[job.id] = calls.get(job.id, 0) + 1
        mode = job.args.mode
        if mode == "fail":
            raise Fatal("no")
        if mode == "retry" and job.attempt == 1:
            return awa.RetryAfter(0.05)
        if mode == "cancel":
            return awa.Cancel("not needed")
        if mode == "snooze" and calls[job.id] == 1:
            return awa.Snooze(0.05)
        if mode == "hold":
            holding.set()
            await release.wait()
        return None

    async with client:
        client.start([("obs", 4)], **fast(queue_metrics_interval=0.2))
        await client.wait_started()

        # Not worked here: two waiting jobs (depth, lag) and one whose worker "died".
        await client.insert_many([Step("x"), Step("x")], queue="ghost")
        dead = await client.insert(Step("x"), queue="dead", max_attempts=1)
        force_running(db, dead.id)
        db.execute(
            "UPDATE awa.jobs_hot SET heartbeat_at = now() - interval '1 hour' WHERE id = %s",
            (dead.id,),
        )

        hold = await client.insert(Step("hold"), queue="obs")
        await holding.wait()
        await wait_signal(client, "heartbeat", alive=1)
        during = otel.metrics()
        release.set()

        ok = await client.insert(Step("ok"), queue="obs")
        many = await client.insert_many([Step("fail"), Step("retry")], queue="obs")
        async with client.transaction() as tx:
            cancel = await tx.insert(Step("cancel"), queue="obs")
        snooze = await client.insert(Step("snooze"), queue="obs")
        fail_id, retry_id = many.ids
        for job_id, action in [
            (hold.id, "complete"),
            (ok.id, "complete"),
            (fail_id, "fail"),
            (retry_id, "complete"),
            (cancel.id, "cancel"),
            (snooze.id, "complete"),
        ]:
            await wait_finalized(client, job_id, action)
        await wait_signal(client, "job_rescued", id=dead.id)
        await client._signals.wait_for("queue_gauges", _ghost_rows)
        for task in TASKS:
            await wait_signal(client, "maintenance_pass", task=task)
        found = otel.metrics()
        await client.shutdown()
    after = otel.metrics()

    # In flight while the held job ran; none at the end.
    assert total(during, "awa.job.in_flight", {n.QUEUE: "obs"}) == 1
    assert total(found, "awa.job.in_flight", {n.QUEUE: "obs"}) == 0
    # Queue gauges come from the leader only: gone once it stopped.
    assert not points(after, "awa.queue.depth")
    assert not points(after, "awa.queue.lag")

    # Producer: every insert path counts (insert, insert_many/COPY, transaction).
    assert total(found, "awa.job.inserted", OBS) == 6
    assert total(found, "awa.job.inserted", {n.QUEUE: "ghost", n.KIND: "step"}) == 2
    assert total(found, "awa.job.inserted", {n.QUEUE: "dead"}) == 1

    # Lifecycle: 6 jobs, 8 attempts (the retried and the snoozed ran twice).
    assert total(found, "awa.job.claimed", {n.QUEUE: "obs"}) == 8
    assert total(found, "awa.job.completed", OBS) == 4
    assert total(found, "awa.job.failed", OBS) == 1
    assert total(found, "awa.job.retried", OBS) == 1
    assert total(found, "awa.job.cancelled", OBS) == 1
    assert total(found, "awa.job.snoozed", OBS) == 1
    rescued = {n.QUEUE: "dead", n.RESCUE_REASON: "heartbeat", n.STATE: "failed"}
    assert total(found, "awa.job.rescued", rescued) == 1
    for outcome, count in [
        ("completed", 4),
        ("failed", 1),
        ("retried", 1),
        ("cancelled", 1),
        ("snoozed", 1),
    ]:
        assert recorded(found, "awa.job.duration", {**OBS, n.OUTCOME: outcome})[0] == count
    assert recorded(found, "awa.job.wait_duration", {n.QUEUE: "obs"})[0] == 8

    # Dispatch: every claimed job is in some claim batch; one duration per claim.
    claims, claimed = recorded(found, "awa.dispatch.claim_batch_size", {n.QUEUE: "obs"})
    assert claimed == 8
    assert recorded(found, "awa.dispatch.claim_duration", {n.QUEUE: "obs"})[0] == claims

    # Completion: the 8 outcomes were written in some number of flushes.
    flushes, written = recorded(found, "awa.completion.flush_batch_size")
    assert written == 8
    assert recorded(found, "awa.completion.flush_duration")[0] == flushes
    assert total(found, "awa.heartbeat.batches") >= 1

    # Leader: queue gauges, promotion, maintenance passes.
    assert total(found, "awa.queue.depth", {n.QUEUE: "ghost", n.STATE: "available"}) == 2
    assert total(found, "awa.queue.depth", {n.QUEUE: "ghost", n.STATE: "running"}) == 0
    assert total(found, "awa.queue.lag", {n.QUEUE: "ghost"}) > 0
    assert total(found, "awa.maintenance.promoted") == 2
    assert recorded(found, "awa.maintenance.promotion_lateness")[0] >= 1
    for task in TASKS:
        assert recorded(found, "awa.maintenance.duration", {n.TASK: task})[0] >= 1, task


async def test_rarer_outcomes_are_counted(
    client: awa.AsyncClient, db: psycopg.Connection[Any], otel: Otel
) -> None:
    forever = anyio.Event()
    started: dict[str, anyio.Event] = {"hold": anyio.Event(), "lose": anyio.Event()}

    def bump_lease(job_id: int) -> None:
        db.execute("UPDATE awa.jobs_hot SET run_lease = run_lease + 1 WHERE id = %s", (job_id,))

    @client.worker(Step, queue="obs")
    async def handle(job: awa.JobContext) -> object:
        mode = job.args.mode
        if mode == "park":
            return awa.WaitForCallback(await job.register_callback(timeout_seconds=60))
        if mode == "stale":
            bump_lease(job.id)  # someone else owns it now: the outcome will be refused
            return None
        if mode in started:
            if mode == "lose":
                bump_lease(job.id)  # the next heartbeat finds the lease gone
            started[mode].set()
            await forever.wait()
        return None

    client.periodic("every-second", "* * * * * *", Step, Step("cron"), queue="obs")
    async with client:
        client.start(
            [("obs", 8), {"name": "limited", "rate_limit": (1, 1)}],
            **fast(queue_metrics_interval=0.2),
        )
        await client.wait_started()
        await client.insert_many([Step("x"), Step("x")], queue="limited")
        park = await client.insert(Step("park"), queue="obs")
        stale = await client.insert(Step("stale"), queue="obs")
        lose = await client.insert(Step("lose"), queue="obs")
        hold = await client.insert(Step("hold"), queue="obs")
        await wait_signal(client, "rate_limited", queue="limited")
        await wait_finalized(client, park.id, "park")
        await wait_signal(client, "job_stale", id=stale.id)
        await wait_signal(client, "lease_lost", id=lose.id)
        await wait_signal(client, "cron_fired", name="every-second")
        await started["hold"].wait()
        await client.shutdown(timeout=0.2)  # the held job is handed back
    found = otel.metrics()
    # Handed back at shutdown, whose outcome was written during it.
    assert total(found, "awa.job.handed_back", OBS) == 1
    assert recorded(found, "awa.job.duration", {**OBS, n.OUTCOME: "handed_back"})[0] == 1
    assert total(found, "awa.job.parked", OBS) == 1
    assert total(found, "awa.job.stale", OBS) == 1
    assert total(found, "awa.job.lease_lost", {n.QUEUE: "obs"}) == 1
    assert total(found, "awa.dispatch.rate_limited", {n.QUEUE: "limited"}) >= 1
    assert total(found, "awa.cron.fired", {n.CRON_NAME: "every-second"}) >= 1
    row = db.execute("SELECT state::text AS state FROM awa.jobs WHERE id = %s", (hold.id,))
    assert row.fetchone() == {"state": "available"}


async def test_sampled_job_histograms_record_one_job_in_every_n(
    client: awa.AsyncClient, otel: Otel
) -> None:
    observability.configure(
        meter_provider=otel.meter_provider,
        tracer_provider=otel.tracer_provider,
        job_histograms_every=3,
    )

    @client.worker(Step, queue="obs")
    async def handle(job: awa.JobContext) -> None:
        return None

    async with client:
        client.start([("obs", 4)], **fast())
        await client.wait_started()
        inserted = await client.insert_many([Step("x") for _ in range(10)], queue="obs")
        for job_id in inserted.ids:
            await wait_finalized(client, job_id, "complete")
        found = otel.metrics()
        await client.shutdown()

    # Counters count every job; the per-job histograms hold jobs 1, 4, 7 and 10.
    assert total(found, "awa.job.claimed", {n.QUEUE: "obs"}) == 10
    assert total(found, "awa.job.completed", OBS) == 10
    assert recorded(found, "awa.job.wait_duration", {n.QUEUE: "obs"})[0] == 4
    assert recorded(found, "awa.job.duration", {**OBS, n.OUTCOME: "completed"})[0] == 4
    # The per-batch histograms are not sampled.
    assert recorded(found, "awa.dispatch.claim_batch_size", {n.QUEUE: "obs"})[1] == 10
    assert recorded(found, "awa.completion.flush_batch_size")[1] == 10
