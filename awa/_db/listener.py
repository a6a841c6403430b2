"""One LISTEN connection, fanned out to subscribers, that survives reconnects.

The listener owns a dedicated connection. Subscribers register a callback per
channel; callbacks run in the listener's task and must not block. When the
connection drops, the listener reconnects with backoff, LISTENs again to
every channel, and tells each subscriber how long it was deaf, so it can poll
for what it may have missed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import attrs
import psycopg
from anyio.abc import TaskStatus
from psycopg import sql

from awa._db.connection import AnyioConnection, open_connection
from awa._sql import Q
from awa.errors import AwaError

logger = logging.getLogger("awa.listener")

NotifyCallback = Callable[[str], None]
GapCallback = Callable[[float], None]


@attrs.frozen
class ListenerConfig:
    """Reconnect backoff runs from ``min_backoff`` doubling up to ``max_backoff``;
    an idle connection is pinged every ``ping_interval`` seconds."""

    conninfo: str
    min_backoff: float = 0.05
    max_backoff: float = 5.0
    ping_interval: float = 30.0
    ping_timeout: float = 5.0
    connect_timeout: float = 10.0


@attrs.define(eq=False)
class Subscription:
    channel: str
    on_notify: NotifyCallback
    on_gap: GapCallback | None
    _listener: Listener

    def close(self) -> None:
        self._listener._unsubscribe(self)


@attrs.define(eq=False)
class ListenerStats:
    connected: bool = False
    connects: int = 0
    gaps: int = 0
    last_gap_seconds: float = 0.0
    notifications: int = 0


class Listener:
    """Fans out NOTIFY messages from one connection to per-channel callbacks."""

    def __init__(self, config: ListenerConfig) -> None:
        self.config = config
        self.stats = ListenerStats()
        self._subscriptions: dict[str, list[Subscription]] = {}
        self._listening: set[str] = set()
        self._wake: anyio.CancelScope | None = None
        self._dirty = False  # subscriptions changed since the last sync
        self._connected_event: anyio.Event | None = None

    def subscribe(
        self, channel: str, on_notify: NotifyCallback, on_gap: GapCallback | None = None
    ) -> Subscription:
        """Call ``on_notify(payload)`` for each message on ``channel``.

        ``on_gap(seconds)`` is called after a reconnect: messages sent while
        the connection was down are lost.
        """
        subscription = Subscription(channel, on_notify, on_gap, self)
        self._subscriptions.setdefault(channel, []).append(subscription)
        self._poke()
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        subs = self._subscriptions.get(subscription.channel, [])
        if subscription in subs:
            subs.remove(subscription)
        if not subs:
            self._subscriptions.pop(subscription.channel, None)
        self._poke()

    def _poke(self) -> None:
        self._dirty = True
        if self._wake is not None:
            self._wake.cancel()

    async def wait_listening(self, channel: str) -> None:
        """Return once ``channel`` is LISTENed on the current connection."""
        while channel not in self._listening:
            if self._connected_event is None or self._connected_event.is_set():
                self._connected_event = anyio.Event()
            await self._connected_event.wait()

    def _dispatch(self, channel: str, payload: str) -> None:
        self.stats.notifications += 1
        for subscription in list(self._subscriptions.get(channel, ())):
            try:
                subscription.on_notify(payload)
            except Exception:
                logger.exception("notify callback for %s failed", channel)

    def _on_psycopg_notify(self, notify: psycopg.Notify) -> None:
        self._dispatch(notify.channel, notify.payload)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Listen until cancelled, reconnecting as needed.

        Reports started once the first connection listens; a failure before
        that propagates (so a bad URL fails the caller's start).
        """
        started = False
        backoff = self.config.min_backoff
        lost_at: float | None = None
        while True:
            try:
                conn = await self._connect()
            except Exception as exc:
                if not started:
                    raise
                logger.warning("LISTEN connection failed (%s); retrying in %.2fs", exc, backoff)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, self.config.max_backoff)
                continue
            backoff = self.config.min_backoff
            try:
                await self._sync_channels(conn)
                self.stats.connected = True
                self.stats.connects += 1
                if lost_at is not None:
                    self._report_gap(time.monotonic() - lost_at)
                    lost_at = None
                if not started:
                    started = True
                    task_status.started()
                await self._serve(conn)
            except (psycopg.Error, AwaError, OSError, TimeoutError) as exc:
                logger.warning("LISTEN connection lost: %s", exc)
                lost_at = time.monotonic()
            finally:
                self.stats.connected = False
                self._listening.clear()
                with anyio.CancelScope(shield=True):
                    await self._close(conn)

    async def _connect(self) -> AnyioConnection:
        conn = await open_connection(
            self.config.conninfo,
            timeout=self.config.connect_timeout,
            application_name="awa-listener",
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
        conn.add_notify_handler(self._on_psycopg_notify)
        return conn

    async def _close(self, conn: AnyioConnection) -> None:
        try:
            with anyio.move_on_after(1):
                await conn.close()
        except Exception:  # pragma: no cover - closing a dead socket
            pass

    def _report_gap(self, seconds: float) -> None:
        self.stats.gaps += 1
        self.stats.last_gap_seconds = seconds
        logger.warning("LISTEN connection restored after %.3fs; notifications may be lost", seconds)
        for subs in list(self._subscriptions.values()):
            for subscription in subs:
                if subscription.on_gap is not None:
                    try:
                        subscription.on_gap(seconds)
                    except Exception:
                        logger.exception("gap callback for %s failed", subscription.channel)

    async def _sync_channels(self, conn: AnyioConnection) -> None:
        wanted = set(self._subscriptions)
        for channel in sorted(wanted - self._listening):
            await self._command(conn, "listen", channel)
            self._listening.add(channel)
        for channel in sorted(self._listening - wanted):
            await self._command(conn, "unlisten", channel)
            self._listening.discard(channel)
        if self._connected_event is not None:
            self._connected_event.set()

    async def _command(self, conn: AnyioConnection, name: str, channel: str) -> None:
        statement = sql.SQL(Q[name].text).format(channel=sql.Identifier(channel))
        await conn.execute(statement, prepare=False)

    async def _serve(self, conn: AnyioConnection) -> None:
        pgconn: Any = conn.pgconn
        fileno = pgconn.socket
        while True:
            self._dirty = False
            await self._sync_channels(conn)
            if self._dirty:
                continue  # changed while we were syncing
            readable = False
            with anyio.CancelScope() as wake:
                self._wake = wake
                with anyio.move_on_after(self.config.ping_interval):
                    await anyio.wait_readable(fileno)
                    readable = True
            self._wake = None
            if wake.cancelled_caught:
                continue  # subscriptions changed
            if not readable:
                with anyio.fail_after(self.config.ping_timeout):
                    await conn.execute(Q["health_ping"].text, prepare=False)
                continue
            pgconn.consume_input()
            while (notify := pgconn.notifies()) is not None:
                encoding = pgconn._encoding
                self._dispatch(notify.relname.decode(encoding), notify.extra.decode(encoding))


async def listen_works(conninfo: str, *, timeout: float, connect_timeout: float = 10.0) -> bool:
    """Whether a NOTIFY sent on one connection reaches a LISTEN on another.

    Behind a pooler in transaction mode (PgBouncer) LISTEN is accepted but
    nothing is ever delivered: the LISTEN ran on a server connection the
    pooler has since handed to someone else. A failure to connect raises.
    """
    channel = f"awa:probe:{uuid.uuid4().hex}"
    listening = await open_connection(
        conninfo,
        timeout=connect_timeout,
        application_name="awa-listener",
        prepare_threshold=None,
    )
    try:
        await listening.execute(
            sql.SQL(Q["listen"].text).format(channel=sql.Identifier(channel)), prepare=False
        )
        sender = await open_connection(
            conninfo, timeout=connect_timeout, application_name="awa", prepare_threshold=None
        )
        try:
            await sender.execute(
                Q["notify"].text, {"channel": channel, "payload": "probe"}, prepare=False
            )
        finally:
            await sender.close()
        pgconn: Any = listening.pgconn
        with anyio.move_on_after(timeout):
            while True:
                await anyio.wait_readable(pgconn.socket)
                pgconn.consume_input()
                while (notify := pgconn.notifies()) is not None:
                    if notify.relname.decode(pgconn._encoding) == channel:
                        return True
        return False
    except psycopg.Error as exc:
        logger.warning("LISTEN/NOTIFY self-test failed: %s", exc)
        return False
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(1):
            await listening.close()
