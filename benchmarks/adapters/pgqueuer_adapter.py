"""pgqueuer on asyncpg, defaults except batch_size = concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

import _common
import asyncpg
from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager


class PgqueuerAdapter:
    library = "pgqueuer"
    version = version("pgqueuer")
    settings = {"driver": "asyncpg", "batch_size": 10}
    pending_sql = "SELECT count(*) FROM pgqueuer"

    def __init__(self, url: str) -> None:
        self.url = url

    async def setup(self) -> None:
        self.conn = await asyncpg.connect(self.url)
        self.queries = Queries(AsyncpgDriver(self.conn))
        await self.queries.install()

    async def close(self) -> None:
        await self.conn.close()

    async def insert_one(self, n: int) -> None:
        await self.queries.enqueue("noop", str(n).encode())

    async def insert_batch(self, ns: list[int]) -> None:
        await self.queries.enqueue(["noop"] * len(ns), [str(n).encode() for n in ns], [0] * len(ns))

    @asynccontextmanager
    async def producer(self) -> AsyncIterator[Any]:
        conn = await asyncpg.connect(self.url)
        try:
            yield _Producer(Queries(AsyncpgDriver(conn)))
        finally:
            await conn.close()

    @asynccontextmanager
    async def worker(self, concurrency: int) -> AsyncIterator[None]:
        conn = await asyncpg.connect(self.url)
        qm = QueueManager(Queries(AsyncpgDriver(conn)))

        @qm.entrypoint("noop")
        async def noop(job: Job) -> None:
            n = int(job.payload or b"0")
            _common.handled(n)
            await _common.finish(n)

        task = asyncio.create_task(qm.run(batch_size=min(concurrency, 10)))
        await asyncio.sleep(0.2)
        try:
            yield
        finally:
            qm.shutdown.set()
            await task
            await conn.close()


class _Producer:
    def __init__(self, queries: Queries) -> None:
        self.queries = queries

    async def insert_batch(self, ns: list[int]) -> None:
        await self.queries.enqueue(["noop"] * len(ns), [str(n).encode() for n in ns], [0] * len(ns))


if __name__ == "__main__":
    _common.main(PgqueuerAdapter)
