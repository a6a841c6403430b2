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
from awa._runtime.signals import Signals
from awa._sql import Q
from awa.errors import AwaError

logger = logging.getLogger("awa.service")

IDLE_INTERVAL = 30.0


class DepthMonitor:
    def __init__(self, db: Db, *, interval: float, signals: Signals) -> None:
        self.db = db
        self.interval = interval
        self.signals = signals

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            try:
                measured = await self.run_once()
            except AwaError as exc:
                logger.warning("queue depth failed: %s", exc)
                measured = 1  # unknown: keep the short interval
            await anyio.sleep(self.interval if measured else max(self.interval, IDLE_INTERVAL))

    async def run_once(self) -> int:
        row = await self.db.one(Q["queue_depth_refresh"])
        measured = int(row["queues"]) if row else 0
        self.signals.emit("depth_measured", queues=measured)
        return measured
