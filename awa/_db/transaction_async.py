"""A transaction on one connection: your SQL and awa's inserts commit together.

The sync twin ``transaction.py`` is generated from this file by ``tools/async_to_sync.py``.
``before_commit`` / ``after_begin`` hooks let a job's completion share the
transaction (``job.transaction()``).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from awa._db.executor_async import AsyncExecutor
from awa._db.hooks import AsyncExecutorOpener, AsyncTransactionHook
from awa._model.insert import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_PRIORITY,
    DEFAULT_QUEUE,
    InsertManyResult,
    PayloadLimits,
    check_on_unique_conflict,
    prepare_insert,
    prepare_many,
)
from awa._model.job import Job
from awa._model.unique import UniqueOpts
from awa.errors import AwaError, RowNotFound

__all__ = ("AsyncTransaction",)


class AsyncTransaction:
    """One database transaction, with awa's insert methods on it.

    Use ``async with await client.transaction() as tx:`` (or ``async with
    client.transaction() as tx:``): the block commits on success and rolls
    back if it raises. SQL takes PostgreSQL's ``$1, $2`` placeholders; rows
    come back as dicts. Nesting (savepoints) is not offered.
    """

    def __init__(
        self,
        opener: AsyncExecutorOpener,
        limits: PayloadLimits,
        *,
        after_begin: AsyncTransactionHook | None = None,
        before_commit: AsyncTransactionHook | None = None,
    ) -> None:
        self._opener = opener
        self._limits = limits
        self._after_begin = after_begin
        self._before_commit = before_commit
        self._stack = AsyncExitStack()
        self._executor: AsyncExecutor | None = None
        self._finished = False

    async def _begin(self) -> AsyncTransaction:
        if self._executor is not None or self._finished:
            raise AwaError("this transaction was already started")
        try:
            executor = await self._stack.enter_async_context(self._opener())
            await executor.exec_begin()
            if self._after_begin is not None:
                await self._after_begin(executor)
        except BaseException:
            await self._stack.aclose()
            raise
        self._executor = executor
        return self

    # async-only
    def __await__(self) -> Generator[Any, None, AsyncTransaction]:
        return self._begin().__await__()

    async def __aenter__(self) -> AsyncTransaction:
        if self._executor is None:
            await self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._finished:
            return
        if exc_type is None:
            await self.commit()
        else:
            await self._end(commit=False)

    def _live(self) -> AsyncExecutor:
        if self._finished:
            raise AwaError("the transaction is finished (committed or rolled back)")
        if self._executor is None:
            raise AwaError("the transaction was not started: use `await client.transaction()`")
        return self._executor

    async def _end(self, *, commit: bool) -> None:
        executor = self._live()
        self._finished = True
        try:
            if commit:
                if self._before_commit is not None:
                    await self._before_commit(executor)
                await executor.exec_commit()
            else:
                await executor.exec_rollback()
        finally:
            await self._stack.aclose()

    async def commit(self) -> None:
        """Commit and release the connection; the transaction can't be used after."""
        await self._end(commit=True)

    async def rollback(self) -> None:
        """Roll back and release the connection; the transaction can't be used after."""
        await self._end(commit=False)

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return the number of rows it affected.

        Raises:
            ValidationError: the ``$n`` placeholders don't match ``args``.
            DatabaseError: PostgreSQL refused the statement (the transaction
                is then aborted: roll it back).
        """
        count, _ = await self._live().user_query(sql, args)
        return count

    async def fetch_all(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Run a query; return every row as a dict."""
        _, rows = await self._live().user_query(sql, args)
        return [dict(r) for r in rows]

    async def fetch_optional(self, sql: str, *args: Any) -> dict[str, Any] | None:
        """Run a query; return its first row, or ``None``."""
        _, rows = await self._live().user_query(sql, args)
        return dict(rows[0]) if rows else None

    async def fetch_one(self, sql: str, *args: Any) -> dict[str, Any]:
        """Run a query; return its first row. Raises ``RowNotFound`` if there is none."""
        row = await self.fetch_optional(sql, *args)
        if row is None:
            raise RowNotFound("fetch_one: the query returned no row")
        return row

    async def insert(
        self,
        args: Any,
        *,
        kind: str | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = DEFAULT_PRIORITY,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        tags: Iterable[str] | None = None,
        metadata: dict[str, Any] | None = None,
        run_at: datetime | timedelta | None = None,
        unique_opts: UniqueOpts | dict[str, Any] | None = None,
        concurrency_key: str | None = None,
        concurrency_limit: int | None = None,
    ) -> Job:
        """Insert a job in this transaction (see ``AsyncClient.insert``)."""
        row = prepare_insert(
            args,
            kind=kind,
            queue=queue,
            priority=priority,
            max_attempts=max_attempts,
            tags=tags,
            metadata=metadata,
            run_at=run_at,
            unique_opts=unique_opts,
            limits=self._limits,
            concurrency_key=concurrency_key,
            concurrency_limit=concurrency_limit,
        )
        return await self._live().job_insert(row)

    async def insert_many(
        self,
        jobs: Sequence[Any],
        *,
        kind: str | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = DEFAULT_PRIORITY,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        tags: Iterable[str] | None = None,
        metadata: dict[str, Any] | None = None,
        run_at: datetime | timedelta | None = None,
        unique_opts: UniqueOpts | dict[str, Any] | None = None,
        on_unique_conflict: str = "raise",
        concurrency_key: str | None = None,
        concurrency_limit: int | None = None,
    ) -> InsertManyResult:
        """COPY a batch of jobs in this transaction (see ``AsyncClient.insert_many``)."""
        check_on_unique_conflict(on_unique_conflict)
        rows = prepare_many(
            jobs,
            kind=kind,
            queue=queue,
            priority=priority,
            max_attempts=max_attempts,
            tags=tags,
            metadata=metadata,
            run_at=run_at,
            unique_opts=unique_opts,
            limits=self._limits,
            concurrency_key=concurrency_key,
            concurrency_limit=concurrency_limit,
        )
        return await self._live().job_insert_many(rows, on_unique_conflict=on_unique_conflict)
