"""Short borrows of a pooled connection to run one named query."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from awa._db.executor_async import AsyncExecutor, Params, Row
from awa._db.pool import AsyncPool
from awa._sql import Query


class Db:
    """Runs one named query per call on a connection from the pool."""

    def __init__(self, pool: AsyncPool) -> None:
        self.pool = pool

    async def one(self, query: Query, params: Params = None) -> Row | None:
        async with self.pool.connection() as conn:
            return await AsyncExecutor(conn).one(query, params)

    async def many(self, query: Query, params: Params = None) -> list[Row]:
        async with self.pool.connection() as conn:
            return await AsyncExecutor(conn).many(query, params)

    async def exec(self, query: Query, params: Params = None) -> int:
        async with self.pool.connection() as conn:
            return await AsyncExecutor(conn).exec(query, params)

    async def value(self, query: Query, params: Params = None, column: str = "") -> Any:
        row = await self.one(query, params)
        if row is None:
            return None
        return row[column] if column else next(iter(row.values()))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncExecutor]:
        """One connection, one transaction, for statements that must go together."""
        async with self.pool.connection() as conn:
            executor = AsyncExecutor(conn)
            async with executor.transaction():
                yield executor
