"""chancy with its in-process AsyncExecutor (default plugins, notifications on)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

import _common
from chancy import Chancy, Job, Queue, Worker


async def noop(n: int) -> None:
    _common.handled(n)
    await _common.finish(n)


class ChancyAdapter:
    library = "chancy"
    version = version("chancy")
    settings = {
        "executor": "AsyncExecutor",
        "polling_interval": 1,
        "eager_polling": True,
        "pool": 10,
    }
    pending_sql = "SELECT count(*) FROM chancy_jobs WHERE state IN ('pending', 'running')"

    def __init__(self, url: str) -> None:
        self.url = url
        self.chancy = Chancy(url, log=logging.getLogger("chancy-bench"))
        logging.getLogger("chancy-bench").setLevel(logging.WARNING)

    def job(self, n: int) -> Job:
        return Job.from_func(noop, queue="default", kwargs={"n": n})

    async def setup(self) -> None:
        await self.chancy.__aenter__()
        await self.chancy.migrate()
        self.queue = Queue(
            "default",
            concurrency=20,
            executor="chancy.executors.asyncex.AsyncExecutor",
            polling_interval=1,
            eager_polling=True,
        )
        await self.chancy.declare(self.queue)

    async def close(self) -> None:
        await self.chancy.__aexit__(None, None, None)

    async def insert_one(self, n: int) -> None:
        await self.chancy.push(self.job(n))

    async def insert_batch(self, ns: list[int]) -> None:
        async for _ in self.chancy.push_many([self.job(n) for n in ns], batch_size=5000):
            pass

    @asynccontextmanager
    async def producer(self) -> AsyncIterator[Any]:
        async with Chancy(self.url, log=logging.getLogger("chancy-bench")) as other:
            yield _Producer(other, self)

    @asynccontextmanager
    async def worker(self, concurrency: int) -> AsyncIterator[None]:
        if concurrency != self.queue.concurrency:
            self.queue = dataclasses.replace(self.queue, concurrency=concurrency)
            await self.chancy.declare(self.queue, upsert=True)
        async with Worker(self.chancy, register_signal_handlers=False):
            yield


class _Producer:
    def __init__(self, chancy: Chancy, adapter: ChancyAdapter) -> None:
        self.chancy, self.adapter = chancy, adapter

    async def insert_batch(self, ns: list[int]) -> None:
        async for _ in self.chancy.push_many([self.adapter.job(n) for n in ns], batch_size=5000):
            pass


if __name__ == "__main__":
    _common.main(ChancyAdapter)
