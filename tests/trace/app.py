"""The worker application of the trace-validation tests: ``awa worker tests.trace.app:client``.

Every job announces on NOTIFY ``trace`` when it starts and when it is done,
so the tests wait on events, not on time.
"""

from __future__ import annotations

import os

import anyio

import awa
from tests.trace.jobs import Flaky, Ok, Outcomes, Sleepy, Stuck

client = awa.AsyncClient(os.environ["DATABASE_URL"], max_connections=4)


async def announce(what: str, job_id: int) -> None:
    async with await client.transaction() as tx:
        await tx.execute("SELECT pg_notify('trace', $1::text)", f"{what} {job_id}")


@client.worker(Ok, queue="trace")
async def ok(job: awa.JobContext) -> None:
    pass


@client.worker(Flaky, queue="trace")
async def flaky(job: awa.JobContext) -> awa.RetryAfter | None:
    """Asks for a retry on its first attempt, succeeds on the next."""
    return awa.RetryAfter(0.05) if job.attempt == 1 else None


@client.worker(Outcomes, queue="trace")
async def outcomes(job: awa.JobContext) -> awa.Snooze | awa.Cancel | None:
    if job.args.then == "snooze":
        return awa.Snooze(0.05) if job.run_lease == 1 else None
    if job.args.then == "fail":
        raise awa.TerminalError("no point retrying")
    return awa.Cancel("not wanted")


@client.on("failed")
@client.on("cancelled")
async def ended(event: awa.JobEvent) -> None:
    await announce(event.event, event.job.id)


@client.worker(Stuck, queue="stuck")
async def stuck(job: awa.JobContext) -> None:
    """The first lease hangs (to be killed, shut down or cancelled); later ones finish."""
    if job.run_lease == 1:
        await announce("started", job.id)
        await anyio.sleep_forever()


@client.worker(Sleepy, queue="pause")
async def sleepy(job: awa.JobContext) -> None:
    """The first lease takes a while (its process gets paused meanwhile); later ones finish."""
    if job.run_lease == 1:
        await announce("started", job.id)
        await anyio.sleep(1.0)


@client.on("completed")
async def completed(event: awa.JobEvent) -> None:
    await announce("completed", event.job.id)
