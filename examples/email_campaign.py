"""A bulk email campaign: 200 emails by COPY, VIPs first, failures retried.

The whole audience is enqueued in one ``insert_many`` (a single COPY, one
transaction); VIP recipients get priority 1 and go out first. The mail relay
refuses 5% of the messages ("mailbox busy"); with ``max_attempts=1`` they
fail at once, and after the first pass ``retry_failed`` puts them all back
in one call. Runs under trio (``anyio.run(..., backend="trio")``); the same
code runs under asyncio.
"""

import os
from dataclasses import dataclass

import anyio

import awa

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://localhost/mydb")
AUDIENCE = 200


@dataclass
class CampaignEmail:
    to: str
    campaign: str


class MailboxBusy(Exception):
    pass


async def main() -> None:
    sent: list[str] = []
    refused: set[str] = set()
    settled = 0
    pass_done = anyio.Event()
    everyone_reached = anyio.Event()

    async with awa.AsyncClient(DATABASE_URL) as client:
        await client.migrate()

        @client.worker(CampaignEmail, queue="email")
        async def send(job: awa.JobContext) -> None:
            to = job.args.to
            if to.startswith("user") and int(to[4:7]) % 20 == 7 and to not in refused:
                refused.add(to)  # the relay refuses it, this time only
                raise MailboxBusy(f"{to}: mailbox busy, try later")
            sent.append(to)
            if len(sent) == AUDIENCE:
                everyone_reached.set()

        async def count(event: awa.JobEvent) -> None:
            nonlocal settled
            settled += 1
            if settled == AUDIENCE:
                pass_done.set()

        client.on("completed", count, kind="campaign_email")
        client.on("failed", count, kind="campaign_email")

        recipients = [f"user{i:03d}@example.com" for i in range(AUDIENCE)]
        jobs = [
            awa.InsertJob(
                CampaignEmail(to=to, campaign="spring-sale"), priority=1 if i % 10 == 0 else 3
            )
            for i, to in enumerate(recipients)
        ]
        result = await client.insert_many(jobs, queue="email", max_attempts=1)
        print(f"enqueued {len(result)} emails with COPY")

        client.start([("email", 20)])
        with anyio.fail_after(60):
            await pass_done.wait()
        vips = {to for i, to in enumerate(recipients) if i % 10 == 0}
        print(f"first pass: {len(sent)} sent, {len(refused)} failed")
        print(f"the first {len(vips)} sent were the VIPs: {set(sent[: len(vips)]) == vips}")

        retried = await client.retry_failed(kind="campaign_email")
        print(f"retry_failed: {retried.retried} jobs back in the queue")
        with anyio.fail_after(60):
            await everyone_reached.wait()
        print(f"all {len(set(sent))} recipients reached")


anyio.run(main, backend="trio")
