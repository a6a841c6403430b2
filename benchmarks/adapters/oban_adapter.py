"""oban (Python) on a psycopg pool, defaults; needs Python >= 3.12."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

import _common
from oban import Oban, job
from oban.schema import install

logging.getLogger("oban").setLevel(logging.WARNING)


@job(queue="default")
async def noop(n: int) -> None:
    _common.handled(n)
    await _common.finish(n)


class ObanAdapter:
    library = "oban"
    version = version("oban")
    settings = {"pool": 10, "stager_interval_s": 1.0}
    pending_sql = (
        "SELECT count(*) FROM oban_jobs WHERE state IN ('available', 'scheduled', 'executing')"
    )

    def __init__(self, url: str) -> None:
        self.url = url

    async def setup(self) -> None:
        self.pool = await Oban.create_pool(self.url, max_size=10)
        await install(self.pool)
        self.oban = Oban(pool=self.pool)  # client mode, registered as "Oban"
        await self.oban.start()

    async def close(self) -> None:
        await self.oban.stop()
        await self.pool.close()

    async def insert_one(self, n: int) -> None:
        await self.oban.enqueue(noop.new(n))

    async def insert_batch(self, ns: list[int]) -> None:
        await self.oban.enqueue_many([noop.new(n) for n in ns])

    @asynccontextmanager
    async def producer(self) -> AsyncIterator[Any]:
        pool = await Oban.create_pool(self.url, max_size=2)
        try:
            yield _Producer(Oban(pool=pool, name="producer"))
        finally:
            await pool.close()

    @asynccontextmanager
    async def worker(self, concurrency: int) -> AsyncIterator[None]:
        pool = await Oban.create_pool(self.url, max_size=10)
        worker = Oban(
            pool=pool, name="worker", node="bench-worker", queues={"default": concurrency}
        )
        await worker.start()
        try:
            yield
        finally:
            await worker.stop()
            await pool.close()


class _Producer:
    def __init__(self, oban: Oban) -> None:
        self.oban = oban

    async def insert_batch(self, ns: list[int]) -> None:
        await self.oban.enqueue_many([noop.new(n) for n in ns])


if __name__ == "__main__":
    _common.main(ObanAdapter)
