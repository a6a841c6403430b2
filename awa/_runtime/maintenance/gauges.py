"""The leader measures every queue's depth by state and its lag, for the
metrics layer's gauges (``awa.queue.depth``, ``awa.queue.lag``). One process
publishes them, so a dashboard summing over instances counts each job once."""

from __future__ import annotations

import anyio
from anyio.abc import TaskStatus

from awa._runtime.db import Db
from awa._runtime.service import run_every
from awa._runtime.signals import Signals
from awa._sql import Q


class QueueGauges:
    def __init__(self, db: Db, *, interval: float, signals: Signals) -> None:
        self.db = db
        self.interval = interval
        self.signals = signals

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            await run_every(
                "queue gauges",
                self.run_once,
                self.interval,
                task_status=task_status,
                first_delay=0,
                signals=self.signals,
                task="queue_gauges",
            )
        finally:
            # No longer the leader: stop publishing (another process takes over).
            self.signals.emit("queue_gauges", rows=None)

    async def run_once(self) -> int:
        rows = [dict(r) for r in await self.db.many(Q["queue_gauges"])]
        self.signals.emit("queue_gauges", rows=rows)
        return len(rows)
