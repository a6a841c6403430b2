"""What a running job may ask of its runtime: progress, callbacks, transactions.

Every call is fenced by the attempt's lease. In-handler callback waits are
woken by NOTIFY ``awa:callback`` through the runtime's one listener (no
connection per waiting handler); without LISTEN they poll.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from awa._db.executor_async import AsyncExecutor
from awa._db.listener import Listener
from awa._db.transaction_async import AsyncTransaction
from awa._model.callbacks import CallbackToken
from awa._model.insert import PayloadLimits
from awa._runtime.db import Db
from awa._runtime.heartbeat import write_progress
from awa._runtime.lease import LeaseToken
from awa._sql import Q
from awa.errors import LeaseLost

logger = logging.getLogger("awa.worker")

CALLBACK_CHANNEL = "awa:callback"


class RuntimeJobServices:
    def __init__(
        self,
        db: Db,
        *,
        listener: Listener | None,
        keep_completed: bool,
        limits: PayloadLimits | None = None,
    ) -> None:
        self.db = db
        self.keep_completed = keep_completed
        self.limits = limits or PayloadLimits()
        self._events: dict[LeaseToken, anyio.Event] = {}
        self.callback_poll_interval = 30.0 if listener is not None else 1.0
        if listener is not None:
            listener.subscribe(CALLBACK_CHANNEL, self._on_notify)

    def _on_notify(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            token = LeaseToken(int(message["job_id"]), int(message["run_lease"]))
        except (ValueError, KeyError, TypeError):
            return
        event = self._events.get(token)
        if event is not None:
            event.set()

    async def write_progress(self, lease: LeaseToken, progress: dict[str, Any]) -> bool:
        return await write_progress(self.db, lease, progress)

    async def register_callback(
        self, lease: LeaseToken, timeout: float, expressions: dict[str, str | None]
    ) -> CallbackToken | None:
        """Spec: AwaCallback!Register"""
        row = await self.db.one(
            Q["job_callback_register"],
            {"id": lease.job_id, "lease": lease.run_lease, "timeout": timeout, **expressions},
        )
        if row is None:
            return None
        return CallbackToken(
            id=row["callback_id"],
            job_id=lease.job_id,
            run_lease=lease.run_lease,
            timeout_at=row["callback_timeout_at"],
        )

    async def take_callback_result(self, lease: LeaseToken) -> tuple[bool, Any]:
        """Spec: AwaCallback!ReceiveResume"""
        row = await self.db.one(
            Q["job_callback_result_take"], {"id": lease.job_id, "lease": lease.run_lease}
        )
        return (False, None) if row is None else (True, row["result"])

    def callback_event(self, lease: LeaseToken) -> anyio.Event:
        event = anyio.Event()
        self._events[lease] = event
        return event

    def forget_callback_event(self, lease: LeaseToken) -> None:
        self._events.pop(lease, None)

    async def callback_remaining(self, lease: LeaseToken, callback_id: uuid.UUID) -> float | None:
        """Seconds until the callback times out (``math.inf``: never); None
        when the attempt lost the job or the callback was resolved."""
        row = await self.db.one(
            Q["job_callback_wait_state"],
            {"id": lease.job_id, "lease": lease.run_lease, "callback_id": callback_id},
        )
        if row is None:
            return None
        return math.inf if row["remaining"] is None else float(row["remaining"])

    def job_transaction(self, lease: LeaseToken) -> AsyncTransaction:
        """A transaction that locks the job first and completes it last.

        Spec: AwaCore!Complete
        """

        @asynccontextmanager
        async def opener() -> AsyncIterator[AsyncExecutor]:
            async with self.db.pool.connection() as conn:
                yield AsyncExecutor(conn)

        async def lock(executor: AsyncExecutor) -> None:
            row = await executor.one(
                Q["job_lock_running"], {"id": lease.job_id, "lease": lease.run_lease}
            )
            if row is None:
                raise LeaseLost(
                    f"job {lease.job_id} no longer belongs to this attempt (rescued or cancelled)"
                )

        async def complete(executor: AsyncExecutor) -> None:
            rows = await executor.many(
                Q["job_complete_many"],
                {"ids": [lease.job_id], "leases": [lease.run_lease], "keep": self.keep_completed},
            )
            if not rows:
                raise LeaseLost(f"job {lease.job_id} no longer belongs to this attempt")

        return AsyncTransaction(opener, self.limits, after_begin=lock, before_commit=complete)
