"""Rate limits (process and fleet), weighted concurrency, per-key limits and
queue depth limits on a running worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
import pytest

import awa
from awa._runtime.db import Db
from awa._runtime.maintenance.cleaner import Cleaner, CleanerConfig
from awa._runtime.rate_limit import FleetBucket
from awa._runtime.signals import Signals
from tests.helpers import count_jobs
from tests.runtime_helpers import fast, wait_finalized, wait_signal

pytestmark = pytest.mark.pg


@dataclass
class Unit:
    n: int


async def test_a_rate_limited_queue_is_throttled_and_drains(client) -> None:
    @client.worker(Unit)
    async def handle(job: awa.JobContext) -> None:
        pass

    async with client:
        ids = (await client.insert_many([Unit(i) for i in range(12)])).ids
        client.start([{"name": "default", "rate_limit": (40, 2)}], **fast())
        await client.wait_started()
        await wait_signal(client, "rate_limited", queue="default")
        for job_id in ids:
            await wait_finalized(client, job_id, "complete")


async def test_fleet_bucket_holds_the_rate_across_processes(client) -> None:
    # Two buckets on the same queue row stand for two worker processes;
    # simulated time moves in 50 ms steps over 10 s (an injected clock).
    first = FleetBucket(Db(client._pool), "shared", rate=20, burst=5)
    second = FleetBucket(Db(client._pool), "shared", rate=20, burst=5)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    granted = 0
    for step in range(200):
        now = start + timedelta(milliseconds=50 * step)
        granted += await first.take(10, now=now)
        granted += await second.take(10, now=now)
    assert abs((granted - 5) - 200) <= 20  # 20/s over 10 s, within 10%


async def test_weighted_shares_of_a_global_pool(client) -> None:
    release = anyio.Event()

    for queue in ("light", "heavy"):

        @client.worker(Unit, queue=queue, kind=f"unit_{queue}")
        async def handle(job: awa.JobContext) -> None:
            await release.wait()

    for queue in ("light", "heavy"):
        await client.insert_many([Unit(i) for i in range(10)], queue=queue, kind=f"unit_{queue}")
    async with client:
        client.start(
            [{"name": "light", "weight": 1}, {"name": "heavy", "weight": 2}],
            global_max_workers=6,
            **fast(),
        )
        await client.wait_started()
        runtime = client.runtime
        assert runtime is not None
        while sum(d.running for d in runtime.dispatchers.values()) < 6:
            await wait_signal(client, "job_started")
            client._signals.clear()
        running = {q: d.running for q, d in runtime.dispatchers.items()}
        release.set()
        await client.shutdown()
    assert running == {"light": 2, "heavy": 4}


async def test_per_key_limit_is_never_exceeded(client, db, database_url) -> None:
    active: dict[str, int] = {}
    peak: dict[str, int] = {}

    @client.worker(Unit)
    async def handle(job: awa.JobContext) -> None:
        key = job.job.concurrency_key or "none"
        active[key] = active.get(key, 0) + 1
        peak[key] = max(peak.get(key, 0), active[key])
        await anyio.sleep(0.01)  # the job's work
        active[key] -= 1

    ids = [
        *(
            await client.insert_many(
                [Unit(i) for i in range(20)], concurrency_key="tenant-a", concurrency_limit=2
            )
        ).ids,
        *(await client.insert_many([Unit(i) for i in range(8)], concurrency_key="tenant-b")).ids,
        *(await client.insert_many([Unit(i) for i in range(8)])).ids,
    ]
    async with client:
        client.start([("default", 20)], **fast())
        await client.wait_started()
        for job_id in ids:
            await wait_finalized(client, job_id, "complete")
    assert peak["tenant-a"] == 2
    assert peak["tenant-b"] == 1
    assert peak["none"] > 2
    rows = db.execute("SELECT key, running FROM awa.concurrency_keys ORDER BY key").fetchall()
    assert all(r["running"] == 0 for r in rows)

    # The cleaner forgets keys no unfinished job uses.
    async with awa.AsyncClient(database_url) as other:
        await other.insert(Unit(99), concurrency_key="tenant-c", run_at=timedelta(hours=1))
        await Cleaner(Db(other._pool), CleanerConfig(), signals=Signals()).run_once()
    keys = db.execute("SELECT key FROM awa.concurrency_keys ORDER BY key").fetchall()
    assert [r["key"] for r in keys] == ["tenant-c"]


async def test_concurrency_options_are_validated(client, db) -> None:
    for options in (
        {"concurrency_limit": 2},
        {"concurrency_key": ""},
        {"concurrency_key": "k", "concurrency_limit": 0},
    ):
        with pytest.raises(awa.ValidationError):
            await client.insert(Unit(1), **options)
    assert count_jobs(db) == 0


async def test_a_full_queue_refuses_inserts(client, db) -> None:
    limit = await client.set_queue_limit("bounded", 3)
    assert (limit.max_depth, limit.policy) == (3, "reject")
    await client.insert_many([Unit(i) for i in range(3)], queue="bounded")

    @client.worker(Unit, queue="other")
    async def handle(job: awa.JobContext) -> None:
        pass

    async with client:
        client.start(["other"], **fast(depth_refresh_interval=0.1))
        await client.wait_started()
        await wait_signal(client, "depth_measured", queues=1)
        depth = await client.queue_depth("bounded")
        assert (depth.depth, depth.max_depth) == (3, 3)
        with pytest.raises(awa.QueueFull) as caught:
            await client.insert(Unit(4), queue="bounded")
        assert (caught.value.queue, caught.value.depth, caught.value.max_depth) == ("bounded", 3, 3)
        with pytest.raises(awa.QueueFull):
            await client.insert_many([Unit(5)], queue="bounded")
        assert count_jobs(db) == 3
        await client.set_queue_limit("bounded", 3, policy="warn")
        await client.insert(Unit(6), queue="bounded")  # logged, not refused
        await client.set_queue_limit("bounded", None)
        await client.insert(Unit(7), queue="bounded")
    with pytest.raises(awa.ValidationError):
        await client.set_queue_limit("bounded", 0)
    with pytest.raises(awa.ValidationError):
        await client.set_queue_limit("bounded", 5, policy="drop")
