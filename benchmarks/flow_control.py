"""Flow-control benchmarks: promotion lateness under a steady stream of due
jobs, and what priority aging costs the claim path.

    python -m benchmarks.flow_control --backend asyncio --due-rate 1000 --seconds 10

Lateness is ``attempted_at - run_at`` (both by the database clock): the time
from a job becoming due to its claim, promotion included. Aging is measured
as drain throughput of a backlog that is old enough to be aged, with aging
every second against aging off, in one run. One JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from datetime import timedelta

import anyio
import psycopg

import awa
from benchmarks.databases import drop_database, fresh_database
from benchmarks.runtime_throughput import percentile


@dataclass
class Due:
    n: int


async def promotion_lateness(
    url: str, backend: str, rate: int, seconds: int, interval: float
) -> dict[str, object]:
    """``rate`` jobs fall due every second for ``seconds`` seconds."""
    total = rate * seconds
    async with awa.AsyncClient(url, max_connections=12) as client:
        await client.migrate()
        left = total
        done = anyio.Event()

        @client.worker(Due)
        async def handle(job: awa.JobContext) -> None:
            nonlocal left
            left -= 1
            if left == 0:
                done.set()

        with psycopg.connect(url) as conn:
            (now,) = conn.execute("SELECT now()").fetchone()  # type: ignore[misc]
        start = now + timedelta(seconds=3)  # time to insert them all first
        for first in range(0, total, 10_000):
            chunk = range(first, min(total, first + 10_000))
            await client.insert_many(
                [awa.InsertJob(Due(i), run_at=start + timedelta(seconds=i / rate)) for i in chunk]
            )
        client.start([("default", 50)], promote_interval=interval)
        with anyio.fail_after(seconds + 120):
            await done.wait()
        await client.shutdown()
    with psycopg.connect(url) as conn:
        late = [
            row[0] * 1000
            for row in conn.execute(
                "SELECT extract(epoch FROM attempted_at - run_at)::float8 FROM awa.jobs"
            )
        ]
    return {
        "scenario": "promotion_lateness",
        "backend": backend,
        "due_per_s": rate,
        "promote_interval_s": interval,
        "jobs": total,
        "p50_ms": round(percentile(late, 50), 1),
        "p99_ms": round(percentile(late, 99), 1),
        "max_ms": round(max(late), 1),
    }


async def drain_with_aging(url: str, backend: str, jobs: int, aging: bool) -> float:
    async with awa.AsyncClient(url, max_connections=12) as client:
        await client.migrate()
        left = jobs
        done = anyio.Event()

        @client.worker(Due)
        async def handle(job: awa.JobContext) -> None:
            nonlocal left
            left -= 1
            if left == 0:
                done.set()

        with psycopg.connect(url) as conn:
            (now,) = conn.execute("SELECT now()").fetchone()  # type: ignore[misc]
        # Waiting for an hour already: every job is due for aging at once.
        await client.insert_many(
            [Due(i) for i in range(jobs)], priority=4, run_at=now - timedelta(hours=1)
        )
        queue = {
            "name": "default",
            "max_workers": 20,
            "priority_aging_interval": 1.0 if aging else 0,
        }
        started = time.perf_counter()
        client.start([queue], aging_interval=0.5)
        await done.wait()
        elapsed = time.perf_counter() - started
        await client.shutdown()
    return jobs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--due-rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--aging-jobs", type=int, default=20_000)
    parser.add_argument("--promote-intervals", default="0.25,0.05")
    options = parser.parse_args()
    admin_url = os.environ["DATABASE_URL"]

    for interval in map(float, options.promote_intervals.split(",")):
        name, url = fresh_database(admin_url)
        try:
            result = anyio.run(
                promotion_lateness,
                url,
                options.backend,
                options.due_rate,
                options.seconds,
                interval,
                backend=options.backend,
            )
            print(json.dumps(result), flush=True)
        finally:
            drop_database(admin_url, name)

    rates = {}
    for aging in (False, True, False, True):  # interleaved, against drift
        name, url = fresh_database(admin_url)
        try:
            rate = anyio.run(
                drain_with_aging,
                url,
                options.backend,
                options.aging_jobs,
                aging,
                backend=options.backend,
            )
        finally:
            drop_database(admin_url, name)
        rates.setdefault(aging, []).append(rate)
    off, on = max(rates[False]), max(rates[True])
    print(
        json.dumps(
            {
                "scenario": "aging_overhead",
                "backend": options.backend,
                "jobs": options.aging_jobs,
                "aging_off_jobs_per_s": round(off),
                "aging_on_jobs_per_s": round(on),
                "on_over_off": round(on / off, 3),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
