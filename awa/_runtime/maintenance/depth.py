"""The leader measures the depth of every queue with a ``max_depth``; inserts
read that estimate to refuse (or warn about) jobs past the limit."""

from __future__ import annotations

import anyio
from anyio.abc import TaskStatus

from awa._runtime.db import Db
from awa._runtime.service import run_every
from awa._runtime.signals import Signals
from awa._sql import Q


class DepthMonitor:
    def __init__(self, db: Db, *, interval: float, signals: Signals) -> None:
        self.db = db
        self.interval = interval
        self.signals = signals

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        await run_every(
            "queue depth",
            self.run_once,
            self.interval,
            task_status=task_status,
            first_delay=0,
            signals=self.signals,
            task="queue_depth",
        )

    async def run_once(self) -> int:
        row = await self.db.one(Q["queue_depth_refresh"])
        measured = int(row["queues"]) if row else 0
        self.signals.emit("depth_measured", queues=measured)
        return measured
