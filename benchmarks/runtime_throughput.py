"""Worker runtime benchmarks: drain throughput and pickup latency (no-op handlers).

    python -m benchmarks.runtime_throughput --backend trio --drain 20000 --pickups 200

Each run uses a fresh database on the server of ``$DATABASE_URL``; one JSON
line per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import dataclass

import anyio

import awa
from benchmarks.databases import drop_database, fresh_database


@dataclass
class Noop:
    n: int


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def drain(url: str, backend: str, jobs: int, workers: int) -> dict[str, object]:
    async with awa.AsyncClient(url, max_connections=12) as client:
        await client.migrate()
        left = jobs
        done = anyio.Event()

        @client.worker(Noop)
        async def handle(job: awa.JobContext) -> None:
            nonlocal left
            left -= 1
            if left == 0:
                done.set()

        await client.insert_many([Noop(i) for i in range(jobs)])
        started = time.perf_counter()
        client.start([("default", workers)])
        await done.wait()
        handled = time.perf_counter() - started
        await client.shutdown()
        elapsed = time.perf_counter() - started
        stats = (await client.queue_stats())[0]
    return {
        "scenario": f"drain_{jobs}",
        "backend": backend,
        "workers": workers,
        "handled_s": round(handled, 3),
        "jobs_per_s": round(jobs / handled),
        "finalized_jobs_per_s": round(jobs / elapsed),
        "completed": stats.completed_last_hour,
    }


async def pickup(url: str, backend: str, samples: int) -> dict[str, object]:
    async with awa.AsyncClient(url) as client:
        await client.migrate()
        started_at: dict[int, float] = {}
        seen = anyio.Event()

        @client.worker(Noop)
        async def handle(job: awa.JobContext) -> None:
            started_at[job.args.n] = time.perf_counter()
            seen.set()

        client.start([("default", 20)])
        await client.wait_started()
        latencies: list[float] = []
        for i in range(samples):
            seen = anyio.Event()
            before = time.perf_counter()
            await client.insert(Noop(i))
            await seen.wait()
            latencies.append((started_at[i] - before) * 1000)
            await anyio.sleep(0.01)  # idle between samples
        await client.shutdown()
    return {
        "scenario": "pickup_latency",
        "backend": backend,
        "samples": samples,
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--drain", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--pickups", type=int, default=200)
    options = parser.parse_args()
    admin_url = os.environ["DATABASE_URL"]
    for scenario in ("drain", "pickup"):
        name, url = fresh_database(admin_url)
        try:
            if scenario == "drain" and options.drain:
                result = anyio.run(
                    drain,
                    url,
                    options.backend,
                    options.drain,
                    options.workers,
                    backend=options.backend,
                )
            elif scenario == "pickup" and options.pickups:
                result = anyio.run(
                    pickup, url, options.backend, options.pickups, backend=options.backend
                )
            else:
                continue
            print(json.dumps(result), flush=True)
        finally:
            drop_database(admin_url, name)


if __name__ == "__main__":
    main()
