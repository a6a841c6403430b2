"""The seed README's Python example, as written (the URL comes from $DATABASE_URL)."""

import asyncio
import os
from dataclasses import dataclass

import awa

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://localhost/mydb")


@dataclass
class SendEmail:
    to: str
    subject: str


async def main():
    client = awa.AsyncClient(DATABASE_URL)
    await client.migrate()

    @client.worker(SendEmail, queue="email")
    async def handle_email(job):
        print(f"Sending to {job.args.to}: {job.args.subject}")

    await client.insert(
        SendEmail(to="alice@example.com", subject="Welcome"),
        queue="email",
    )
    client.start([("email", 2)])
    await asyncio.sleep(1)
    await client.shutdown()


asyncio.run(main())
