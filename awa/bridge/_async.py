"""Async drivers: psycopg ``AsyncConnection``, asyncpg, SQLAlchemy ``AsyncConnection``
and ``AsyncSession``.

The awaits go to the caller's driver, so a bridge call runs wherever that
driver runs: asyncpg and SQLAlchemy's asyncio extension only under asyncio,
psycopg's ``AsyncConnection`` under asyncio (and a subclass that waits
through anyio, like awa's own connection, under trio too).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Sequence
from functools import cache
from typing import Any, Protocol

import psycopg
from psycopg.rows import DictRow, dict_row

from awa._db.executor_async import AsyncExecutor, Params
from awa._model.placeholders import to_colon, to_numbered
from awa._sql import Query
from awa.bridge._shared import copy_target, normalize_row, translate_error, unsupported
from awa.errors import ValidationError


class AsyncDriver(Protocol):
    async def run(self, query: Query, params: Params) -> tuple[int, list[dict[str, Any]]]:
        """Run one statement; return (row count, rows as dicts)."""
        ...

    async def copy(self, query: Query, rows: Sequence[Sequence[Any]]) -> None: ...

    def atomic(self) -> contextlib.AbstractAsyncContextManager[object]:
        """Make several statements atomic without ending the caller's transaction."""
        ...


class PsycopgAsyncDriver:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def run(self, query: Query, params: Params) -> tuple[int, list[dict[str, Any]]]:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query.text, params)
            rows = await cur.fetchall() if cur.description is not None else []
            return cur.rowcount, rows

    async def copy(self, query: Query, rows: Sequence[Sequence[Any]]) -> None:
        async with self.conn.cursor() as cur, cur.copy(query.text) as copy:
            for row in rows:
                await copy.write_row(row)

    def atomic(self) -> contextlib.AbstractAsyncContextManager[object]:
        if self.conn.autocommit:
            return self.conn.transaction()
        return contextlib.nullcontext()


# -- asyncpg ------------------------------------------------------------


def _asyncpg_value(value: Any, cast: str | None) -> Any:
    """asyncpg encodes by the server's parameter type: a bit mask must be a BitString."""
    if value is not None and cast is not None and cast.startswith("bit"):
        return sys.modules["asyncpg"].BitString(value)
    return value


@cache
def _numbered(text: str) -> tuple[str, tuple[str, ...], dict[str, str]]:
    return to_numbered(text)


def _positional(query: Query, params: Params) -> tuple[str, list[Any]]:
    sql, names, casts = _numbered(query.text)
    values = params or {}
    return sql, [_asyncpg_value(values[name], casts.get(name)) for name in names]


class AsyncpgDriver:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def run(self, query: Query, params: Params) -> tuple[int, list[dict[str, Any]]]:
        sql, args = _positional(query, params)
        if query.cardinality == "exec":
            status: str = await self.conn.execute(sql, *args)  # e.g. "DELETE 3"
            last = status.rsplit(" ", 1)[-1]
            return (int(last) if last.isdigit() else -1), []
        records = await self.conn.fetch(sql, *args)
        return len(records), [dict(r) for r in records]

    async def copy(self, query: Query, rows: Sequence[Sequence[Any]]) -> None:
        schema, table, columns = copy_target(query.text)
        bits = [i for i, name in enumerate(columns) if name == "unique_states"]
        records = [
            tuple(_asyncpg_value(v, "bit") if i in bits else v for i, v in enumerate(row))
            for row in rows
        ]
        await self.conn.copy_records_to_table(
            table, records=records, columns=columns, schema_name=schema
        )

    def atomic(self) -> contextlib.AbstractAsyncContextManager[object]:
        if self.conn.is_in_transaction():
            return contextlib.nullcontext()
        transaction: contextlib.AbstractAsyncContextManager[object] = self.conn.transaction()
        return transaction


# -- SQLAlchemy (asyncio extension) -----------------------------------------


@cache
def _sqlalchemy_text(text: str) -> Any:
    from sqlalchemy import text as sa_text

    return sa_text(to_colon(text))


class SqlAlchemyAsyncDriver:
    """A SQLAlchemy ``AsyncConnection``; statements go through ``text()``."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.asyncpg = conn.dialect.driver == "asyncpg"

    async def run(self, query: Query, params: Params) -> tuple[int, list[dict[str, Any]]]:
        values = dict(params or {})
        if self.asyncpg:
            _, _, casts = _numbered(query.text)
            values = {k: _asyncpg_value(v, casts.get(k)) for k, v in values.items()}
        result = await self.conn.execute(_sqlalchemy_text(query.text), values)
        rows = [dict(r) for r in result.mappings()] if result.returns_rows else []
        return result.rowcount, rows

    async def copy(self, query: Query, rows: Sequence[Sequence[Any]]) -> None:
        # COPY is not in SQLAlchemy's API: it goes to the driver's connection,
        # which holds the same transaction.
        raw = (await self.conn.get_raw_connection()).driver_connection
        if isinstance(raw, psycopg.AsyncConnection):
            await PsycopgAsyncDriver(raw).copy(query, rows)
        elif self.asyncpg:
            await AsyncpgDriver(raw).copy(query, rows)
        else:
            raise ValidationError(
                "insert_many on SQLAlchemy needs the asyncpg or psycopg driver;"
                f" this engine uses {self.conn.dialect.driver}",
                field="conn",
            )

    def atomic(self) -> contextlib.AbstractAsyncContextManager[object]:
        return contextlib.nullcontext()  # a SQLAlchemy connection is always in a transaction


async def async_driver(conn: object) -> AsyncDriver:
    """The driver for the caller's connection, or a ``ValidationError``."""
    if isinstance(conn, psycopg.AsyncConnection):
        return PsycopgAsyncDriver(conn)
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is not None and isinstance(conn, asyncpg.Connection):
        return AsyncpgDriver(conn)
    extension = sys.modules.get("sqlalchemy.ext.asyncio")
    if extension is not None:
        if isinstance(conn, extension.AsyncSession):
            return SqlAlchemyAsyncDriver(await conn.connection())
        if isinstance(conn, extension.AsyncConnection):
            return SqlAlchemyAsyncDriver(conn)
    raise unsupported(conn, want_async=True)


class AsyncBridgeExecutor(AsyncExecutor):
    """awa's executor, running on a caller's connection through a driver.

    The insert methods (``job_insert``, ``job_insert_many``) are the client's;
    only the four primitives underneath them are replaced.
    """

    def __init__(self, driver: AsyncDriver) -> None:  # no pooled connection here
        self.driver = driver

    def copy_text_array(self, items: tuple[str, ...]) -> Any:
        return list(items)  # a driver's COPY may be binary: a list, not a literal

    @contextlib.asynccontextmanager
    async def _translating(self) -> AsyncIterator[None]:
        try:
            yield
        except Exception as exc:
            known = translate_error(exc)
            if known is None:
                raise
            raise known from exc

    async def one(self, query: Query, params: Params = None) -> DictRow | None:
        rows = await self.many(query, params)
        return rows[0] if rows else None

    async def many(self, query: Query, params: Params = None) -> list[DictRow]:
        async with self._translating():
            _, rows = await self.driver.run(query, params)
        return [normalize_row(r) for r in rows]

    async def exec(self, query: Query, params: Params = None) -> int:
        async with self._translating():
            count, _ = await self.driver.run(query, params)
        return count

    async def copy(self, query: Query, rows: Sequence[Sequence[Any]]) -> None:
        async with self._translating():
            await self.driver.copy(query, rows)
