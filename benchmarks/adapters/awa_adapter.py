"""awa on asyncio or trio (runs in the project's own environment)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import _common

import awa


@dataclass
class Noop:
    n: int


class AwaAdapter:
    backend = "asyncio"
    pending_sql = "SELECT count(*) FROM awa.jobs_hot"

    def __init__(self, url: str) -> None:
        self.url = url
        self.library = f"awa-{self.backend}"
        self.version = awa.__version__
        self.settings: dict[str, Any] = {"max_connections": 12, "listen": True}
        self.client = awa.AsyncClient(url, max_connections=12)

    async def setup(self) -> None:
        await self.client.__aenter__()  # trio needs the client open as a context
        await self.client.migrate()

        @self.client.worker(Noop)
        async def handle(job: awa.JobContext) -> None:
            n = job.args.n
            _common.handled(n)
            await _common.finish(n)

    async def close(self) -> None:
        await self.client.__aexit__(None, None, None)

    async def insert_one(self, n: int) -> None:
        await self.client.insert(Noop(n))

    async def insert_batch(self, ns: list[int]) -> None:
        await self.client.insert_many([Noop(n) for n in ns])

    @asynccontextmanager
    async def producer(self) -> AsyncIterator[Any]:
        async with awa.AsyncClient(self.url, max_connections=2) as client:
            yield _Producer(client)

    @asynccontextmanager
    async def worker(self, concurrency: int) -> AsyncIterator[None]:
        self.client.start([("default", concurrency)])
        await self.client.wait_started()
        try:
            yield
        finally:
            await self.client.shutdown()


class _Producer:
    def __init__(self, client: awa.AsyncClient) -> None:
        self.client = client

    async def insert_batch(self, ns: list[int]) -> None:
        await self.client.insert_many([Noop(n) for n in ns])


if __name__ == "__main__":
    _common.main(AwaAdapter, backends=("asyncio", "trio"))
