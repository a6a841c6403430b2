"""The worker application of the fault suite: ``awa worker tests.chaos.app:client``.

One kind, ``Work``, whose ``mode`` picks the outcome. Every attempt records a
span (job, attempt, lease, pid, start); the span's end is written only while
the attempt still holds its lease, and a completed job's effect row is written
in ``job.transaction()``, atomically with the completion and fenced by the
lease. So an effect row exists exactly once per completed job if and only if
no attempt's late write got through.
"""

from __future__ import annotations

import os

import anyio

import awa
from tests.chaos.jobs import Work

client = awa.AsyncClient(
    os.environ["DATABASE_URL"],
    max_connections=int(os.environ.get("CHAOS_POOL", "6")),
    acquire_timeout=float(os.environ.get("CHAOS_ACQUIRE_TIMEOUT", "10")),
    connect_timeout=3,
)


class Refused(awa.TerminalError):
    """The 'fail' mode's terminal error."""


async def _begin(job: awa.JobContext) -> None:
    async with await client.transaction() as tx:
        await tx.execute(
            "INSERT INTO spans (job_id, attempt, lease, pid) VALUES ($1, $2, $3, $4)",
            job.id,
            job.attempt,
            job.run_lease,
            os.getpid(),
        )


async def _refused(job: awa.JobContext, what: str) -> None:
    """Record that a write of this attempt was refused (for the figures)."""
    async with await client.transaction() as tx:
        await tx.execute(
            "INSERT INTO refused (job_id, lease, pid, what) VALUES ($1, $2, $3, $4)",
            job.id,
            job.run_lease,
            os.getpid(),
            what,
        )


async def _end(job: awa.JobContext, outcome: str) -> None:
    """Close the span only while this attempt still holds the job."""
    async with await client.transaction() as tx:
        updated = await tx.execute(
            "UPDATE spans SET ended = clock_timestamp(), outcome = $3"
            " WHERE job_id = $1 AND lease = $2 AND ended IS NULL AND EXISTS ("
            "  SELECT 1 FROM awa.jobs_hot WHERE id = $1 AND run_lease = $2"
            "   AND state = 'running')",
            job.id,
            job.run_lease,
            outcome,
        )
    if not updated:
        await _refused(job, "span_end")


async def _snoozed_before(job: awa.JobContext) -> bool:
    async with await client.transaction() as tx:
        row = await tx.fetch_one(
            "SELECT count(*) AS n FROM spans WHERE job_id = $1 AND outcome = 'snooze'", job.id
        )
    return bool(row["n"])


@client.worker(Work, queue="chaos")
async def work(job: awa.JobContext) -> object:
    await _begin(job)
    mode = job.args.mode
    if mode == "hog":
        # Hold a pool connection for a while: with several hogs per process
        # the pool runs dry and the runtime must wait for connections.
        async with await client.transaction() as tx:
            await tx.execute("SELECT pg_sleep($1::float8)", job.args.sleep)
    elif job.args.sleep:
        await anyio.sleep(job.args.sleep)
    if mode == "retry" and job.attempt < 2:
        await _end(job, "retry")
        return awa.RetryAfter(0.2)
    if mode == "snooze" and not await _snoozed_before(job):
        await _end(job, "snooze")
        return awa.Snooze(0.2)
    if mode == "fail":
        await _end(job, "failed")
        raise Refused("chaos: this job fails by design")
    if mode == "cancel":
        await _end(job, "cancelled")
        return awa.Cancel("chaos: this job cancels itself")
    try:
        async with job.transaction() as tx:
            await tx.execute(
                "UPDATE spans SET ended = clock_timestamp(), outcome = 'completed'"
                " WHERE job_id = $1 AND lease = $2",
                job.id,
                job.run_lease,
            )
            await tx.execute(
                "INSERT INTO effects (job_id, lease, pid) VALUES ($1, $2, $3)",
                job.id,
                job.run_lease,
                os.getpid(),
            )
    except awa.LeaseLost:
        await _refused(job, "complete")
        raise
    return None
