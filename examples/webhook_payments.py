"""Webhook payments: jobs wait for a payment provider's signed callback.

Each ``ChargeCard`` job registers a callback, hands its id to the provider
and parks (``WaitForCallback``), freeing its worker slot. The provider
answers over HTTP, signing each request; awa's callback receiver
(``awa.web.callbacks.callback_app``) checks the signature and resumes the
job with the provider's answer (``job.callback_result``). The job then
records the payment, enqueues the customer's receipt and completes, all in
one transaction; a declined card notifies the customer and fails the job
for good. Orders over $100 get priority 1, so with one payment worker they
are charged first. A forged callback is refused.

The provider here is a task in this process calling the receiver through
httpx's ASGI transport; in production it is another service calling the
receiver over the network (``awa callbacks serve``).
"""

import asyncio
import json
import os
from dataclasses import dataclass

import httpx

import awa
from awa.callbacks import callback_url, signed_headers
from awa.web.callbacks import callback_app

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://localhost/mydb")
SECRET = "shared-secret-with-the-provider"  # at least 16 bytes; from your secret store
BASE_URL = "http://payments.example"


class CardDeclined(awa.TerminalError):
    """No retry: the customer has to use another card."""


@dataclass
class ChargeCard:
    order_id: int
    amount_cents: int


@dataclass
class NotifyCustomer:
    order_id: int
    message: str


# What the provider will answer for each order.
DECISIONS = {1: "paid", 2: "paid", 3: "declined"}


async def provider(http: httpx.AsyncClient, requests: asyncio.Queue) -> None:
    """The payment provider: charges the card, then calls back (signed)."""
    while True:
        callback_id, order_id = await requests.get()
        status = DECISIONS[order_id]
        body = json.dumps({"payload": {"status": status, "reference": f"ch_{order_id}"}}).encode()
        response = await http.post(
            callback_url(BASE_URL, callback_id, "resume"),
            content=body,
            headers={
                "content-type": "application/json",
                **signed_headers(SECRET, callback_id, body),
            },
        )
        print(f"provider -> order {order_id}: {status} (receiver said {response.status_code})")


async def main() -> None:
    requests: asyncio.Queue = asyncio.Queue()
    notified = asyncio.Event()
    messages: list[str] = []

    async with awa.AsyncClient(DATABASE_URL) as client:
        await client.migrate()
        async with client.transaction() as tx:
            await tx.execute(
                "CREATE TABLE IF NOT EXISTS payments (order_id int PRIMARY KEY, reference text)"
            )

        @client.worker(ChargeCard, queue="payments")
        async def charge(job: awa.JobContext) -> object:
            order = job.args.order_id
            answer = job.callback_result
            if answer is None:  # first run: ask the provider, then park
                print(f"charging order {order} (priority {job.priority})")
                token = await job.register_callback(timeout_seconds=600)
                await requests.put((token.id, order))
                return awa.WaitForCallback(token)
            if answer["status"] == "declined":
                await client.insert(NotifyCustomer(order, "card declined"), queue="notifications")
                raise CardDeclined(f"order {order}: the card was declined")
            async with job.transaction() as tx:  # payment, receipt and completion together
                await tx.execute(
                    "INSERT INTO payments (order_id, reference) VALUES ($1, $2)",
                    order,
                    answer["reference"],
                )
                await tx.insert(NotifyCustomer(order, "receipt"), queue="notifications")
            return None

        @client.worker(NotifyCustomer, queue="notifications")
        async def notify(job: awa.JobContext) -> None:
            messages.append(f"order {job.args.order_id}: {job.args.message}")
            if len(messages) == len(DECISIONS):
                notified.set()

        for order_id, amount in [(1, 4_200), (2, 25_000), (3, 8_000)]:
            priority = 1 if amount > 10_000 else 3
            await client.insert(ChargeCard(order_id, amount), queue="payments", priority=priority)

        app = callback_app(client, secret=SECRET)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
            forged = await http.post(
                callback_url(BASE_URL, "6f1c0e2a-9d3b-4c7e-8a55-0b1d2e3f4a5b", "resume"),
                json={"payload": {"status": "paid", "reference": "ch_forged"}},
                headers={"x-awa-timestamp": "0", "x-awa-signature": "00" * 32},
            )
            print(f"forged callback refused: {forged.status_code}")

            provider_task = asyncio.create_task(provider(http, requests))
            client.start([("payments", 1), ("notifications", 2)])
            await asyncio.wait_for(notified.wait(), timeout=30)
            provider_task.cancel()

        for message in sorted(messages):
            print("notified", message)
        for job in sorted(await client.list_jobs(kind="charge_card"), key=lambda j: j.id):
            settled = await client.wait_for(job.id, timeout=30)
            print(f"charge order {job.args['order_id']}: {settled.state.value}")


asyncio.run(main())
