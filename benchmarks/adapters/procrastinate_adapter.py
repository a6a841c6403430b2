"""procrastinate on its psycopg connector, defaults (LISTEN/NOTIFY on)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

import _common
import procrastinate

logging.getLogger("procrastinate").setLevel(logging.WARNING)


class ProcrastinateAdapter:
    library = "procrastinate"
    version = version("procrastinate")
    settings = {"connector": "PsycopgConnector", "listen_notify": True}
    pending_sql = "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"

    def __init__(self, url: str) -> None:
        self.url = url
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

        @self.app.task(name="noop")
        async def noop(n: int) -> None:
            _common.handled(n)
            await _common.finish(n)

        self.task = noop

    async def setup(self) -> None:
        await self.app.open_async()
        await self.app.schema_manager.apply_schema_async()

    async def close(self) -> None:
        await self.app.close_async()

    async def insert_one(self, n: int) -> None:
        await self.task.defer_async(n=n)

    async def insert_batch(self, ns: list[int]) -> None:
        await self.task.batch_defer_async(*({"n": n} for n in ns))

    @asynccontextmanager
    async def producer(self) -> AsyncIterator[Any]:
        yield self

    @asynccontextmanager
    async def worker(self, concurrency: int) -> AsyncIterator[None]:
        task = asyncio.create_task(
            self.app.run_worker_async(
                concurrency=concurrency, install_signal_handlers=False, wait=True
            )
        )
        await asyncio.sleep(0.3)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


if __name__ == "__main__":
    _common.main(ProcrastinateAdapter)
