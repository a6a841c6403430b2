"""Insert throughput of awa: sequential ``insert`` and COPY ``insert_many``.

    python -m benchmarks.insert_throughput --backend trio --single 10000 --batch 50000

Runs against a fresh database on the server of ``$DATABASE_URL`` and prints
one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass

import anyio

import awa
from benchmarks.databases import drop_database, fresh_database


@dataclass
class SendEmail:
    to: str
    subject: str


async def measure(url: str, backend: str, single: int, batch: int) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    async with awa.AsyncClient(url) as client:
        await client.migrate()
        if single:
            started = time.perf_counter()
            for i in range(single):
                await client.insert(SendEmail(to=f"user{i}@example.com", subject="Welcome"))
            elapsed = time.perf_counter() - started
            results.append(
                {
                    "scenario": "single_insert",
                    "backend": backend,
                    "jobs": single,
                    "seconds": round(elapsed, 3),
                    "jobs_per_s": round(single / elapsed),
                }
            )
        if batch:
            jobs = [SendEmail(to=f"user{i}@example.com", subject="Welcome") for i in range(batch)]
            started = time.perf_counter()
            await client.insert_many(jobs)
            elapsed = time.perf_counter() - started
            results.append(
                {
                    "scenario": "insert_many_copy",
                    "backend": backend,
                    "jobs": batch,
                    "seconds": round(elapsed, 3),
                    "jobs_per_s": round(batch / elapsed),
                }
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--single", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=50_000)
    options = parser.parse_args()
    admin_url = os.environ["DATABASE_URL"]
    name, url = fresh_database(admin_url)
    try:
        for line in anyio.run(
            measure, url, options.backend, options.single, options.batch, backend=options.backend
        ):
            print(json.dumps(line))
    finally:
        drop_database(admin_url, name)


if __name__ == "__main__":
    main()
