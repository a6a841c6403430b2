"""Connection pools: ``AsyncPool`` (anyio, asyncio or trio) and ``Pool`` (threads).

Both are bounded, check a connection's health when it has been idle a while,
give up on an acquire after a timeout, and never hand out a connection in an
unknown state: on return a connection is rolled back to idle or closed.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Generic, TypeVar

import anyio
import attrs
import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row

from awa._db.connection import AnyioConnection, open_connection
from awa._db.errors import translate
from awa._db.jsonb import use_fast_loads
from awa._model.config import redact
from awa._sql import Q
from awa.errors import ClientClosed, ConfigError, PoolTimeout

logger = logging.getLogger("awa.db")

C = TypeVar("C")

# psycopg's default: prepare a statement on its fifth run on a connection.
PREPARE_THRESHOLD = 5

_IDLE = pq.TransactionStatus.IDLE
_IN_TRANSACTION = (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR)


@attrs.frozen
class PoolConfig:
    """Pool settings (seconds for times).

    Args:
        conninfo: the PostgreSQL URL or keyword string.
        max_size: most connections open at once.
        acquire_timeout: how long ``connection()`` waits for a free one.
        connect_timeout: how long opening one connection may take.
        check_after_idle: ping a connection idle longer than this before use.
        max_idle: close connections idle longer than this.
        max_lifetime: close connections older than this when returned.
        reset_timeout: how long rolling back a returned connection may take.
        prepare: let psycopg prepare statements it runs often (server-side
            prepared statements); off behind PgBouncer in transaction mode.
    """

    conninfo: str
    max_size: int = 10
    acquire_timeout: float = 30.0
    connect_timeout: float = 10.0
    check_after_idle: float = 30.0
    max_idle: float = 300.0
    max_lifetime: float = 1800.0
    reset_timeout: float = 5.0
    prepare: bool = True

    def validate(self) -> None:
        if not isinstance(self.conninfo, str) or not self.conninfo.strip():
            raise ConfigError("database_url: expected a non-empty string", field="database_url")
        try:
            conninfo_to_dict(self.conninfo)
        except psycopg.ProgrammingError as exc:
            raise ConfigError(
                f"database_url: not a valid PostgreSQL URL or conninfo ({redact(str(exc))})",
                field="database_url",
            ) from None
        if (
            isinstance(self.max_size, bool)
            or not isinstance(self.max_size, int)
            or self.max_size < 1
        ):
            raise ConfigError("max_connections: must be an int >= 1", field="max_connections")
        for name in (
            "acquire_timeout",
            "connect_timeout",
            "check_after_idle",
            "max_idle",
            "max_lifetime",
            "reset_timeout",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{name}: must be a positive number", field=name)


@attrs.frozen
class PoolStats:
    size: int
    idle: int
    in_use: int
    max_size: int
    discarded: int


@attrs.define(eq=False)
class _Slot(Generic[C]):
    conn: C
    created: float
    returned: float


class _PoolBase(Generic[C]):
    """Book-keeping shared by both pools; no I/O here."""

    def __init__(self, config: PoolConfig) -> None:
        config.validate()
        self.config = config
        self._idle: deque[_Slot[C]] = deque()
        self._in_use = 0
        self._discarded = 0
        self._closed = False

    def stats(self) -> PoolStats:
        return PoolStats(
            size=len(self._idle) + self._in_use,
            idle=len(self._idle),
            in_use=self._in_use,
            max_size=self.config.max_size,
            discarded=self._discarded,
        )

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosed("the client is closed")

    def _conninfo_kwargs(self) -> dict[str, Any]:
        return {
            "autocommit": True,
            "connect_timeout": max(1, int(self.config.connect_timeout)),
            "application_name": "awa",
            "prepare_threshold": PREPARE_THRESHOLD if self.config.prepare else None,
        }

    def _pop_idle(self, now: float) -> tuple[_Slot[C] | None, list[C]]:
        """The freshest idle slot, plus connections too old to keep."""
        stale: list[C] = []
        while self._idle:
            slot = self._idle.pop()
            if now - slot.returned > self.config.max_idle:
                stale.append(slot.conn)
                continue
            return slot, stale
        return None, stale

    def _needs_check(self, slot: _Slot[C], now: float) -> bool:
        return now - slot.returned > self.config.check_after_idle

    def _keep(self, conn: C, birth: float, now: float, usable: bool) -> bool:
        if not usable or self._closed or now - birth > self.config.max_lifetime:
            if not usable:
                self._discarded += 1
            return False
        self._idle.append(_Slot(conn, birth, now))
        return True


def _usable(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    return not conn.closed and conn.pgconn.status == pq.ConnStatus.OK and not _hung_up(conn)


def _hung_up(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Whether the server has closed this idle connection (terminated backend,
    restart): it said so on the socket, so look without waiting. Nothing
    else arrives on an idle pooled connection."""
    pgconn = conn.pgconn
    try:
        # A goodbye is an error message, then end of file: read until the
        # socket is quiet or libpq reports the close.
        for _ in range(4):
            if not _readable_now(pgconn.socket):
                break
            pgconn.consume_input()
    except (OSError, psycopg.OperationalError):
        return True
    return pgconn.status != pq.ConnStatus.OK


def _readable_now(fileno: int) -> bool:
    if hasattr(select, "poll"):  # any descriptor number
        poller = select.poll()
        poller.register(fileno, select.POLLIN)
        return bool(poller.poll(0))
    try:
        readable, _, _ = select.select([fileno], [], [], 0)
    except ValueError:  # past FD_SETSIZE: can't tell, assume alive
        return False
    return bool(readable)


class AsyncPool(_PoolBase[AnyioConnection]):
    """A bounded pool of ``AnyioConnection`` for one event loop."""

    def __init__(self, config: PoolConfig) -> None:
        super().__init__(config)
        self._limiter: anyio.Semaphore | None = None

    def _semaphore(self) -> anyio.Semaphore:
        # Created on first use, inside the event loop that will use it.
        if self._limiter is None:
            self._limiter = anyio.Semaphore(self.config.max_size)
        return self._limiter

    async def _connect(self) -> AnyioConnection:
        kwargs = self._conninfo_kwargs()
        del kwargs["autocommit"]
        return await open_connection(
            self.config.conninfo, timeout=self.config.connect_timeout, **kwargs
        )

    async def _ping(self, conn: AnyioConnection) -> bool:
        try:
            with anyio.fail_after(self.config.reset_timeout):
                await conn.execute(Q["health_ping"].text, prepare=False)
        except (psycopg.Error, TimeoutError):
            return False
        return True

    async def _acquire(self) -> tuple[AnyioConnection, float]:
        while True:
            now = time.monotonic()
            slot, stale = self._pop_idle(now)
            for conn in stale:
                await self._close_quietly(conn)
            if slot is None:
                conn = await self._connect()
                return conn, time.monotonic()
            try:
                healthy = _usable(slot.conn) and (
                    not self._needs_check(slot, now) or await self._ping(slot.conn)
                )
            except BaseException:
                # Cancelled mid-ping: the connection is out of the idle list
                # and nobody borrowed it.
                await self._close_quietly(slot.conn)
                raise
            if healthy:
                return slot.conn, slot.created
            self._discarded += 1
            await self._close_quietly(slot.conn)

    async def _reset(self, conn: AnyioConnection) -> bool:
        """Bring a returned connection back to idle; False if it can't be."""
        if not _usable(conn):
            return False
        status = conn.pgconn.transaction_status
        if status == _IDLE:
            return True
        if status not in _IN_TRANSACTION:
            return False  # mid-command or unknown: the protocol state is lost
        try:
            with anyio.fail_after(self.config.reset_timeout):
                await conn.execute(Q["tx_rollback"].text, prepare=False)
        except (psycopg.Error, TimeoutError) as exc:
            logger.warning("discarding a connection that failed to roll back: %s", exc)
            return False
        return conn.pgconn.transaction_status == _IDLE

    async def _close_quietly(self, conn: AnyioConnection) -> None:
        try:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.config.reset_timeout):
                await conn.close()
        except Exception as exc:  # pragma: no cover - closing a dead socket
            logger.debug("error closing a connection: %s", exc)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AnyioConnection]:
        """Borrow a connection for the block.

        Raises:
            PoolTimeout: no connection was free within ``acquire_timeout``.
            ConnectionFailed: a new connection could not be opened.
            ClientClosed: the pool is closed.

        Cancellation: if cancelled while waiting, nothing was borrowed. A
        connection borrowed by a cancelled block is rolled back (shielded,
        bounded by ``reset_timeout``) or closed before its slot is freed.
        """
        self._check_open()
        limiter = self._semaphore()
        try:
            limiter.acquire_nowait()
        except anyio.WouldBlock:
            try:
                with anyio.fail_after(self.config.acquire_timeout):
                    await limiter.acquire()
            except TimeoutError:
                raise PoolTimeout(
                    f"no database connection free within {self.config.acquire_timeout}s"
                    f" (max_connections={self.config.max_size})"
                ) from None
        try:
            self._check_open()
            conn, birth = await self._acquire()
        except BaseException:
            limiter.release()
            raise
        self._in_use += 1
        try:
            yield conn
        finally:
            self._in_use -= 1
            try:
                if not (
                    _usable(conn)
                    and conn.pgconn.transaction_status == _IDLE
                    and self._keep(conn, birth, time.monotonic(), True)
                ):
                    # Needs a rollback or a close: I/O that a cancelled
                    # borrower must still finish.
                    with anyio.CancelScope(shield=True):
                        usable = await self._reset(conn)
                        if not self._keep(conn, birth, time.monotonic(), usable):
                            await self._close_quietly(conn)
            finally:
                limiter.release()

    async def close(self) -> None:
        """Close idle connections and refuse new borrowers; borrowed ones close on return."""
        self._closed = True
        while self._idle:
            await self._close_quietly(self._idle.pop().conn)


class Pool(_PoolBase["psycopg.Connection[DictRow]"]):
    """A bounded, thread-safe pool of psycopg sync connections."""

    def __init__(self, config: PoolConfig) -> None:
        super().__init__(config)
        self._limiter = threading.BoundedSemaphore(config.max_size)
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection[DictRow]:
        try:
            conn = psycopg.Connection.connect(
                self.config.conninfo, row_factory=dict_row, **self._conninfo_kwargs()
            )
        except psycopg.Error as exc:
            raise translate(exc) from exc
        use_fast_loads(conn)
        return conn

    def _ping(self, conn: psycopg.Connection[DictRow]) -> bool:
        try:
            conn.execute(Q["health_ping"].text, prepare=False)
        except psycopg.Error:
            return False
        return True

    def _acquire(self) -> tuple[psycopg.Connection[DictRow], float]:
        while True:
            now = time.monotonic()
            with self._lock:
                slot, stale = self._pop_idle(now)
            for conn in stale:
                conn.close()
            if slot is None:
                return self._connect(), time.monotonic()
            if _usable(slot.conn) and (not self._needs_check(slot, now) or self._ping(slot.conn)):
                return slot.conn, slot.created
            with self._lock:
                self._discarded += 1
            slot.conn.close()

    def _reset(self, conn: psycopg.Connection[DictRow]) -> bool:
        if not _usable(conn):
            return False
        status = conn.pgconn.transaction_status
        if status == _IDLE:
            return True
        if status not in _IN_TRANSACTION:
            return False
        try:
            conn.execute(Q["tx_rollback"].text, prepare=False)
        except psycopg.Error as exc:
            logger.warning("discarding a connection that failed to roll back: %s", exc)
            return False
        return conn.pgconn.transaction_status == _IDLE

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[DictRow]]:
        """Borrow a connection for the block (see ``AsyncPool.connection``)."""
        self._check_open()
        if not self._limiter.acquire(timeout=self.config.acquire_timeout):
            raise PoolTimeout(
                f"no database connection free within {self.config.acquire_timeout}s"
                f" (max_connections={self.config.max_size})"
            )
        try:
            self._check_open()
            conn, birth = self._acquire()
        except BaseException:
            self._limiter.release()
            raise
        with self._lock:
            self._in_use += 1
        try:
            yield conn
        finally:
            try:
                usable = self._reset(conn)
                with self._lock:
                    self._in_use -= 1
                    kept = self._keep(conn, birth, time.monotonic(), usable)
                if not kept:
                    conn.close()
            finally:
                self._limiter.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
        for slot in idle:
            slot.conn.close()
