"""The leader measures the depth of every queue with a ``max_depth``; inserts
read that estimate to refuse (or warn about) jobs past the limit.

While no queue has a limit the refresh runs every ``IDLE_INTERVAL`` instead
(an idle worker's transactions count): setting a limit measures that queue
at once (``queue_limit_set``), and the next refresh goes back to the short
interval.
"""

from __future__ import annotations

import logging

import anyio
from anyio.abc import TaskStatus

from awa._runtime.db import Db
from awa._runtime.service import run_when_due
from awa._runtime.signals import Signals
from awa._sql import Q

logger = logging.getLogger("awa.service")

IDLE_INTERVAL = 30.0


class DepthMonitor:
    def __init__(self, db: Db, *, interval: float, signals: Signals) -> None:
        self.db = db
        self.interval = interval
        self.signals = signals

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async def measure() -> float:
            measured = await self.run_once()
            return self.interval if measured else max(self.interval, IDLE_INTERVAL)

        await run_when_due(
            "queue_depth",
            measure,
            task_status=task_status,
            signals=self.signals,
            max_sleep=max(self.interval, IDLE_INTERVAL),
            error_delay=self.interval,  # unknown: keep the short interval
        )

    async def run_once(self) -> int:
        row = await self.db.one(Q["queue_depth_refresh"])
        measured = int(row["queues"]) if row else 0
        self.signals.emit("depth_measured", queues=measured)
        return measured
