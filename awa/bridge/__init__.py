"""Insert jobs on your own connection, inside your own transaction.

The job commits with your transaction or not at all: commit and it is
visible to workers; roll back and it never existed. Sync::

    with psycopg.connect(url) as conn:              # or a SQLAlchemy Session
        conn.execute("INSERT INTO orders ...")      # or Django's connection
        awa.bridge.insert_job_sync(conn, SendEmail(to="a@example.com"))
    # committed together

Async (``psycopg.AsyncConnection``, ``asyncpg.Connection``, SQLAlchemy
``AsyncConnection``/``AsyncSession``)::

    async with conn.transaction():
        await awa.bridge.insert_job(conn, SendEmail(to="a@example.com"))

Options, validation, unique keys and ``UniqueConflict`` are those of
``AsyncClient.insert`` / ``insert_many``, and the SQL is the same named
queries. Nothing is written when validation fails, and the connection is not
touched. A statement that fails (a ``UniqueConflict`` included) aborts the
caller's transaction as any failed statement does: roll it back. Database
errors other than unique conflicts and a missing schema are the driver's own
exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

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
from awa.bridge._async import AsyncBridgeExecutor, async_driver
from awa.bridge._sync import BridgeExecutor, sync_driver

__all__ = ("insert_job", "insert_job_sync", "insert_many", "insert_many_sync")

_DEFAULT_LIMITS = PayloadLimits()


def insert_job_sync(
    conn: Any,
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
    limits: PayloadLimits | None = None,
) -> Job:
    """Insert one job on a sync connection, in its current transaction.

    ``conn`` is a ``psycopg.Connection``, a SQLAlchemy ``Connection`` or
    ``Session``, or Django's ``connection`` (PostgreSQL backend). The options
    are ``AsyncClient.insert``'s; ``limits`` bounds the payload sizes
    (default ``awa.PayloadLimits()``).

    Raises:
        ValidationError: bad args, options or connection; nothing was sent.
        UniqueConflict: another job holds the unique key.
        QueueFull: the queue is past its ``max_depth`` (policy reject).
        SchemaNotMigrated: the database has no awa schema.
    """
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
        limits=limits or _DEFAULT_LIMITS,
        concurrency_key=concurrency_key,
        concurrency_limit=concurrency_limit,
    )
    driver = sync_driver(conn)
    return BridgeExecutor(driver).job_insert(row)


def insert_many_sync(
    conn: Any,
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
    limits: PayloadLimits | None = None,
) -> InsertManyResult:
    """Insert many jobs with COPY on a sync connection, in its current transaction.

    As ``AsyncClient.insert_many`` (``InsertJob`` items, ``on_unique_conflict``).
    On a connection in autocommit mode the batch gets a transaction of its own.
    COPY needs the psycopg driver underneath (SQLAlchemy ``postgresql+psycopg``,
    Django's psycopg 3 backend).
    """
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
        limits=limits or _DEFAULT_LIMITS,
        concurrency_key=concurrency_key,
        concurrency_limit=concurrency_limit,
    )
    driver = sync_driver(conn)
    with driver.atomic():
        return BridgeExecutor(driver).job_insert_many(rows, on_unique_conflict=on_unique_conflict)


async def insert_job(
    conn: Any,
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
    limits: PayloadLimits | None = None,
) -> Job:
    """Insert one job on an async connection, in its current transaction.

    ``conn`` is a ``psycopg.AsyncConnection``, an ``asyncpg.Connection`` (or a
    pool's connection), or a SQLAlchemy ``AsyncConnection`` or
    ``AsyncSession``. See ``insert_job_sync`` for the options and errors.
    asyncpg and SQLAlchemy's asyncio extension run only under asyncio.
    """
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
        limits=limits or _DEFAULT_LIMITS,
        concurrency_key=concurrency_key,
        concurrency_limit=concurrency_limit,
    )
    driver = await async_driver(conn)
    return await AsyncBridgeExecutor(driver).job_insert(row)


async def insert_many(
    conn: Any,
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
    limits: PayloadLimits | None = None,
) -> InsertManyResult:
    """Insert many jobs with COPY on an async connection (see ``insert_many_sync``)."""
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
        limits=limits or _DEFAULT_LIMITS,
        concurrency_key=concurrency_key,
        concurrency_limit=concurrency_limit,
    )
    driver = await async_driver(conn)
    async with driver.atomic():
        return await AsyncBridgeExecutor(driver).job_insert_many(
            rows, on_unique_conflict=on_unique_conflict
        )
