"""An anyio-native psycopg connection: one code path under asyncio and trio.

psycopg's ``AsyncConnection`` drives libpq through generators that yield "wait
until the socket is readable/writable" and consumes them with asyncio. This
subclass consumes the same generators with ``anyio.wait_readable`` /
``anyio.wait_writable``, guards the connection with an ``anyio.Lock`` and
turns a cancellation in the middle of a command into a server-side cancel
followed by a drain, so the connection is either usable afterwards or closed.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, TypeVar

import anyio
import psycopg
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.abc import PQGen, PQGenConn
from psycopg.conninfo import conninfo_to_dict, make_conninfo, timeout_from_conninfo
from psycopg.rows import DictRow, dict_row
from psycopg.waiting import Ready, Wait

from awa._db.errors import translate
from awa._db.jsonb import use_fast_loads
from awa.errors import ConnectionFailed

logger = logging.getLogger("awa.db")

RV = TypeVar("RV")

# How long a cancelled command may take to stop on the server before the
# connection is given up and closed.
CANCEL_DRAIN_TIMEOUT = 5.0

_ACTIVE = pq.TransactionStatus.ACTIVE


async def _wait_ready(fileno: int, wait: Wait) -> Ready:
    """Wait until ``fileno`` is ready for what ``wait`` asks; return what is ready."""
    if wait == Wait.R:
        await anyio.wait_readable(fileno)
        return Ready.R
    if wait == Wait.W:
        await anyio.wait_writable(fileno)
        return Ready.W
    # Both directions: rare (pipeline mode, COPY with a full buffer). Race them.
    ready = Ready.NONE

    async with anyio.create_task_group() as tg:

        async def _one(waiter: Any, flag: Ready) -> None:
            nonlocal ready
            await waiter(fileno)
            ready = Ready(ready | flag)
            tg.cancel_scope.cancel()

        tg.start_soon(_one, anyio.wait_readable, Ready.R)
        tg.start_soon(_one, anyio.wait_writable, Ready.W)
    return ready


async def _consume(gen: PQGen[RV], fileno: int) -> RV:
    try:
        wait = next(gen)
        while True:
            wait = gen.send(await _wait_ready(fileno, wait))
    except StopIteration as stop:
        result: RV = stop.value
        return result


async def _consume_conn(gen: PQGenConn[RV]) -> RV:
    try:
        fileno, wait = next(gen)
        while True:
            fileno, wait = gen.send(await _wait_ready(fileno, wait))
    except StopIteration as stop:
        result: RV = stop.value
        return result


async def drive(gen: PQGen[RV], fileno: int, timeout: float | None = None) -> RV:
    """Consume a psycopg generator bound to one socket through anyio.

    Raises ``psycopg.errors._WaitTimeout`` when ``timeout`` expires first.
    """
    try:
        if timeout is None:
            return await _consume(gen, fileno)
        with anyio.fail_after(timeout):
            return await _consume(gen, fileno)
    except TimeoutError:
        raise pg_errors._WaitTimeout("wait timeout expired") from None
    except OSError as ex:
        raise psycopg.OperationalError("connection socket closed") from ex


async def drive_conn(gen: PQGenConn[RV], timeout: float | None = None) -> RV:
    """Consume a connection-establishing generator, whose socket may change."""
    try:
        if timeout is None:
            return await _consume_conn(gen)
        with anyio.fail_after(timeout):
            return await _consume_conn(gen)
    except TimeoutError:
        raise pg_errors._WaitTimeout("wait timeout expired") from None
    except OSError as ex:
        raise psycopg.OperationalError("connection socket closed") from ex


class AnyioConnection(psycopg.AsyncConnection[DictRow]):
    """A psycopg async connection that waits through anyio.

    Rows come back as dicts. Safe to use from any anyio backend; a connection
    must be used by one event loop only.
    """

    def __init__(self, pgconn: Any, row_factory: Any = dict_row) -> None:
        super().__init__(pgconn, row_factory=row_factory)
        self.lock = anyio.Lock()  # type: ignore[assignment]  # anyio, not asyncio

    @classmethod
    async def connect(
        cls,
        conninfo: str = "",
        *,
        autocommit: bool = False,
        prepare_threshold: int | None = 5,
        **kwargs: Any,
    ) -> AnyioConnection:
        """Open a connection, resolving host names through anyio."""
        params = conninfo_to_dict(conninfo, **kwargs)
        timeout = timeout_from_conninfo(params)
        errors: list[Exception] = []
        for attempt in await _connection_attempts(params):
            try:
                conn: AnyioConnection = await drive_conn(
                    cls._connect_gen(make_conninfo("", **attempt)), timeout=timeout
                )
            except pg_errors._WaitTimeout:
                errors.append(psycopg.errors.ConnectionTimeout("connection timeout expired"))
            except psycopg.Error as ex:
                errors.append(ex)
            else:
                conn._autocommit = autocommit
                conn.prepare_threshold = prepare_threshold
                use_fast_loads(conn)
                return conn
        if not errors:  # pragma: no cover - no attempts means a bad conninfo
            raise psycopg.OperationalError("no host to connect to")
        raise errors[-1].with_traceback(None)

    async def wait(
        self,
        gen: PQGen[RV],
        interval: float = 0.0,
        timeout: float | None = None,
    ) -> RV:
        """Consume ``gen``; on cancellation stop the command on the server first."""
        fileno = self.pgconn.socket
        try:
            return await drive(gen, fileno, timeout=timeout)
        except anyio.get_cancelled_exc_class():
            if self.pgconn.transaction_status == _ACTIVE:
                with anyio.CancelScope(shield=True):
                    await self._cancel_and_drain(gen, fileno)
            raise
        except BaseException:
            if self.pgconn.transaction_status == _ACTIVE:
                # Interrupted in another way (KeyboardInterrupt...): the
                # protocol state is unknown, so the connection can't be reused.
                self._give_up()
            raise

    async def _cancel_and_drain(self, gen: PQGen[Any], fileno: int) -> None:
        try:
            with anyio.fail_after(CANCEL_DRAIN_TIMEOUT):
                await drive_conn(self._cancel_gen())
                await drive(gen, fileno)
        except pg_errors.QueryCanceled:
            return
        except psycopg.Error as ex:
            # The command finished with another error before the cancel landed:
            # the protocol is back in sync.
            logger.debug("cancelled command ended with %s", type(ex).__name__)
            return
        except BaseException as ex:
            logger.warning(
                "could not stop a cancelled command (%s): closing the connection",
                type(ex).__name__,
            )
            self._give_up()
            if not isinstance(ex, Exception):
                raise

    def _give_up(self) -> None:
        # After finish() psycopg reports the connection as closed and broken.
        self.pgconn.finish()

    async def cancel_safe(self, *, timeout: float = 30.0) -> None:
        """Cancel the running command without blocking the event loop."""
        if not self._should_cancel():
            return
        try:
            await drive_conn(self._cancel_gen(), timeout=timeout)
        except pg_errors._WaitTimeout:
            raise psycopg.errors.CancellationTimeout("cancellation timeout expired") from None

    async def close(self) -> None:
        """Close the connection, waking any task waiting on its socket."""
        if self.closed:
            return
        fileno = self.pgconn.socket if self.pgconn.status == pq.ConnStatus.OK else -1
        if fileno >= 0:
            try:
                anyio.notify_closing(fileno)
            except Exception:  # pragma: no cover - nobody waited on it
                pass
        await super().close()


async def _connection_attempts(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Resolve ``host`` to addresses with anyio (psycopg would use asyncio)."""
    host = str(params.get("host") or "")
    if not host or host.startswith("/") or params.get("hostaddr") or "," in host:
        return [params]
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        pass
    else:
        return [{**params, "hostaddr": host}]
    port = str(params.get("port") or "5432")
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as ex:
        raise psycopg.OperationalError(f"could not resolve host {host!r}: {ex}") from None
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return [{**params, "hostaddr": address} for address in seen]


# The sync twin's connection type (see tools/async_to_sync.py).
SyncConnection = psycopg.Connection[DictRow]


async def open_connection(conninfo: str, *, timeout: float, **kwargs: Any) -> AnyioConnection:
    """Connect (autocommit) within ``timeout`` seconds, raising awa's errors."""
    try:
        with anyio.fail_after(timeout):
            return await AnyioConnection.connect(conninfo, autocommit=True, **kwargs)
    except TimeoutError:
        raise ConnectionFailed(f"could not connect within {timeout}s") from None
    except psycopg.Error as exc:
        raise translate(exc) from exc
