"""Transactional enqueue: a job commits with your data, or not at all.

Three orders are placed. Order 1 and its confirmation job commit together in
awa's own transaction; order 2's transaction fails, so its job never exists;
order 3 is written on the application's own psycopg connection and its job
joins that transaction through ``awa.bridge``. Only the committed orders get
a confirmation.
"""

import asyncio
import os
from dataclasses import dataclass

import psycopg

import awa
from awa.bridge import insert_job

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://localhost/mydb")


@dataclass
class SendConfirmation:
    order_id: int


async def main() -> None:
    confirmed: list[int] = []
    async with awa.AsyncClient(DATABASE_URL) as client:
        await client.migrate()
        async with client.transaction() as tx:
            await tx.execute("CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY, item text)")

        # 1. awa's transaction: your SQL with $1 placeholders, and the job.
        async with client.transaction() as tx:
            await tx.execute("INSERT INTO orders VALUES ($1, $2)", 1, "book")
            await tx.insert(SendConfirmation(order_id=1), queue="orders")

        # 2. The block raises: the order and its job roll back together.
        try:
            async with client.transaction() as tx:
                await tx.execute("INSERT INTO orders VALUES ($1, $2)", 2, "lamp")
                await tx.insert(SendConfirmation(order_id=2), queue="orders")
                raise ValueError("payment declined")
        except ValueError as exc:
            print(f"order 2 rolled back: {exc}")

        # 3. Your own connection (psycopg here; asyncpg, SQLAlchemy and Django too).
        conn = await psycopg.AsyncConnection.connect(DATABASE_URL)
        async with conn, conn.transaction():
            await conn.execute("INSERT INTO orders VALUES (%s, %s)", (3, "chair"))
            await insert_job(conn, SendConfirmation(order_id=3), queue="orders")

        @client.worker(SendConfirmation, queue="orders")
        async def confirm(job: awa.JobContext) -> None:
            confirmed.append(job.args.order_id)

        client.start([("orders", 2)])
        for job in await client.list_jobs(kind="send_confirmation"):
            await client.wait_for(job.id, timeout=30)

    print("orders confirmed:", sorted(confirmed))


asyncio.run(main())
