"""A bare SKIP LOCKED queue on asyncpg: the floor a job queue library adds to.

One table, claim one row with FOR UPDATE SKIP LOCKED, delete it when done,
LISTEN/NOTIFY to wake idle workers, a 1 s poll as a fallback.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import _common
import asyncpg

SCHEMA = """
CREATE TABLE bare_jobs (id bigserial PRIMARY KEY, n int NOT NULL,
                        running boolean NOT NULL DEFAULT false);
CREATE INDEX bare_jobs_ready ON bare_jobs (id) WHERE NOT running;
"""
INSERT = "WITH i AS (INSERT INTO bare_jobs (n) VALUES ($1)) SELECT pg_notify('bare', '')"
CLAIM = """UPDATE bare_jobs SET running = true WHERE id = (
    SELECT id FROM bare_jobs WHERE NOT running ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, n"""


class BareAdapter:
    library = "bare-skip-locked"
    version = f"asyncpg {asyncpg.__version__}"
    settings = {"pool": 20, "claim": "one row per round trip"}
    pending_sql = "SELECT count(*) FROM bare_jobs"

    def __init__(self, url: str) -> None:
        self.url = url

    async def setup(self) -> None:
        self.pool = await asyncpg.create_pool(self.url, min_size=2, max_size=20)
        await self.pool.execute(SCHEMA)

    async def close(self) -> None:
        await self.pool.close()

    async def insert_one(self, n: int) -> None:
        await self.pool.execute(INSERT, n)

    async def insert_batch(self, ns: list[int]) -> None:
        async with self.pool.acquire() as conn:
            await conn.copy_records_to_table("bare_jobs", records=[(n,) for n in ns], columns=["n"])
            await conn.execute("SELECT pg_notify('bare', '')")

    @asynccontextmanager
    async def producer(self) -> AsyncIterator[Any]:
        yield self

    @asynccontextmanager
    async def worker(self, concurrency: int) -> AsyncIterator[None]:
        wake = asyncio.Event()
        listener = await asyncpg.connect(self.url)
        await listener.add_listener("bare", lambda *_: wake.set())

        async def loop() -> None:
            while True:
                row = await self.pool.fetchrow(CLAIM)
                if row is None:
                    wake.clear()
                    try:
                        await asyncio.wait_for(wake.wait(), 1.0)
                    except TimeoutError:
                        pass
                    continue
                _common.handled(row["n"])
                await _common.finish(row["n"])
                await self.pool.execute("DELETE FROM bare_jobs WHERE id = $1", row["id"])

        tasks = [asyncio.create_task(loop()) for _ in range(concurrency)]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await listener.close()


if __name__ == "__main__":
    _common.main(BareAdapter)
