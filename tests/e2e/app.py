"""A worker application for the multi-process tests: ``awa worker tests.e2e.app:client``."""

from __future__ import annotations

import os

import anyio

import awa
from tests.e2e.jobs import Hang, Keyed, Record

client = awa.AsyncClient(os.environ["DATABASE_URL"], max_connections=8)


async def note(job: awa.JobContext) -> None:
    async with await client.transaction() as tx:
        await tx.execute(
            "INSERT INTO runs (job_id, attempt, lease, pid) VALUES ($1, $2, $3, $4)",
            job.id,
            job.attempt,
            job.run_lease,
            os.getpid(),
        )


@client.worker(Record, queue="bulk")
async def record(job: awa.JobContext) -> None:
    await note(job)


@client.worker(Hang, queue="hang")
async def hang(job: awa.JobContext) -> None:
    await note(job)
    if job.attempt == 1:
        async with await client.transaction() as tx:
            await tx.execute("SELECT pg_notify('e2e_started', $1::text)", str(job.id))
        await anyio.sleep_forever()


@client.on("completed", kind="hang")
async def completed(event: awa.JobEvent) -> None:
    async with await client.transaction() as tx:
        await tx.execute("SELECT pg_notify('e2e_done', $1::text)", str(event.job.id))


@client.worker(Keyed, queue="keyed")
async def keyed(job: awa.JobContext) -> None:
    # The span lies inside the time the job holds its key's slot (claim to
    # completion), so overlapping spans count concurrent holders.
    async with await client.transaction() as tx:
        span = await tx.fetch_one(
            "INSERT INTO spans (job_id, tenant, started) VALUES ($1, $2, clock_timestamp())"
            " RETURNING id",
            job.id,
            job.args.tenant,
        )
    await anyio.sleep(0.005)  # some work, so spans can overlap
    async with await client.transaction() as tx:
        await tx.execute("UPDATE spans SET ended = clock_timestamp() WHERE id = $1", span["id"])
        await tx.execute("SELECT pg_notify('runs', '')")
