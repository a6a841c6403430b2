"""Leader election: a session advisory lock on a dedicated connection.

The holder runs the maintenance services in a task group and checks that
its lock connection is alive every ``check_interval``; when the check fails
the services are cancelled and election starts over. Losing the connection
releases the lock in the database, so another process takes over within its
election interval. A paused leader (SIGSTOP, a frozen VM) keeps its socket
open, so the lock session also carries ``idle_session_timeout`` (PostgreSQL
14+): the server ends it once the leader stops pinging, and the lock goes
with it. Maintenance statements are each atomic and idempotent, so
two processes briefly both believing they lead is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import anyio
import attrs
from anyio.abc import TaskStatus

from awa._db.connection import AnyioConnection, open_connection
from awa._db.executor_async import AsyncExecutor
from awa._runtime.signals import Signals
from awa._runtime.spec_trace import SpecTrace
from awa._sql import Q
from awa.errors import AwaError

logger = logging.getLogger("awa.leader")

Service = Callable[..., Coroutine[Any, Any, Any]]

_LOST = (AwaError, OSError, TimeoutError)


@attrs.frozen
class LeaderConfig:
    conninfo: str
    election_interval: float = 10.0
    check_interval: float = 30.0
    check_timeout: float = 5.0
    connect_timeout: float = 10.0
    # Hold the lock in a transaction, not the session (PgBouncer in transaction mode).
    transaction_lock: bool = False


class Leader:
    def __init__(
        self,
        config: LeaderConfig,
        services: Sequence[Service],
        *,
        signals: Signals,
        trace: SpecTrace,
        worker: str,
    ) -> None:
        self.config = config
        self.services = services
        self.signals = signals
        self.trace = trace
        self.worker = worker
        self.is_leader = False
        self.alive = False
        self.terms = 0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.alive = True
        task_status.started()
        try:
            while True:
                try:
                    await self._campaign()
                except _LOST as exc:
                    logger.warning("leadership lost or unavailable: %s", exc)
                except BaseExceptionGroup as group:
                    # From the services' task group: a lost connection is the
                    # only expected failure; anything else is a bug.
                    lost, rest = group.split(_LOST)
                    if rest is not None:
                        raise
                    logger.warning("leadership lost: %s", lost.exceptions[0] if lost else group)
                await anyio.sleep(self.config.election_interval)
        finally:
            self.alive = False

    @property
    def idle_timeout(self) -> float:
        """How long the lock session may sit idle before the server ends it:
        three of the longest pauses a live campaign or term makes, plus the
        check timeout."""
        c = self.config
        return 3 * max(c.check_interval, c.election_interval) + c.check_timeout

    async def _connect(self) -> AnyioConnection:
        return await open_connection(
            self.config.conninfo,
            timeout=self.config.connect_timeout,
            application_name="awa-leader",
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
            prepare_threshold=None if self.config.transaction_lock else 5,
        )

    async def _limit_idle(self, executor: AsyncExecutor) -> None:
        if self.config.transaction_lock or executor.conn.info.server_version < 140000:
            return
        try:
            await executor.one(
                Q["leader_idle_timeout"], {"timeout": f"{round(self.idle_timeout * 1000)}ms"}
            )
        except AwaError as exc:
            logger.warning("could not set idle_session_timeout on the lock session: %s", exc)

    async def _campaign(self) -> None:
        """Hold a dedicated connection, win the lock, lead; unlock on the way out.

        Spec: AwaLeader!ReleaseLeadership
        Spec: AwaShutdown!ReleaseLeadership
        """
        conn = await self._connect()
        executor = AsyncExecutor(conn)
        held = False
        try:
            await self._limit_idle(executor)
            while not held:
                held = await self._try_lock(executor)
                if not held:
                    await anyio.sleep(self.config.election_interval)
            await self._lead(executor)
        finally:
            self.is_leader = False
            with anyio.CancelScope(shield=True):
                try:
                    if held and not conn.closed:
                        with anyio.move_on_after(self.config.check_timeout):
                            await self._release(executor)
                finally:
                    await conn.close()

    async def _release(self, executor: AsyncExecutor) -> None:
        """Unlock before the connection closes (closing would release it too).

        Spec: AwaLeader!ReleaseLeadership
        Spec: AwaShutdown!ReleaseLeadership
        """
        try:
            await self._unlock(executor)
            self.trace.emit("ReleaseLeadership", worker=self.worker)
        except AwaError as exc:
            logger.debug("unlock failed (the lock goes with the connection): %s", exc)

    async def _try_lock(self, executor: AsyncExecutor) -> bool:
        if not self.config.transaction_lock:
            row = await executor.one(Q["leader_try_lock"])
            return bool(row and row["acquired"])
        await executor.exec_begin()
        timeout = f"{round(self.idle_timeout * 1000)}ms"
        await executor.one(Q["leader_xact_idle_timeout"], {"timeout": timeout})
        row = await executor.one(Q["leader_try_xact_lock"])
        if row and row["acquired"]:
            return True
        await executor.exec_rollback()
        return False

    async def _unlock(self, executor: AsyncExecutor) -> None:
        if self.config.transaction_lock:
            await executor.exec_rollback()
        else:
            await executor.one(Q["leader_unlock"])

    async def _lead(self, executor: AsyncExecutor) -> None:
        """Run the maintenance services while the lock connection is alive.

        Spec: AwaLeader!BecomeLeader
        Spec: AwaLeader!CheckLeadership
        """
        self.is_leader = True
        self.terms += 1
        logger.info("elected maintenance leader")
        self.trace.emit("BecomeLeader", worker=self.worker)
        self.signals.emit("leader_elected", worker=self.worker)
        async with anyio.create_task_group() as services:
            for service in self.services:
                await services.start(service)
            while True:
                await anyio.sleep(self.config.check_interval)
                with anyio.fail_after(self.config.check_timeout):
                    await executor.one(Q["health_ping"])
