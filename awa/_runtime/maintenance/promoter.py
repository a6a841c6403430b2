"""The promoter: deferred jobs (scheduled, retryable) become available when due.

It promotes in bounded batches, then sleeps until the next job is due (at
least ``min_interval``, at most ``max_idle``); new deferred work wakes it
early through NOTIFY ``awa:deferred``.
"""

from __future__ import annotations

import logging

import anyio
import attrs
from anyio.abc import TaskStatus

from awa._db.listener import Listener
from awa._model.channels import DEFERRED_CHANNEL
from awa._runtime.db import Db
from awa._runtime.service import run_when_due
from awa._runtime.signals import Signals
from awa._runtime.spec_trace import SpecTrace
from awa._sql import Q

logger = logging.getLogger("awa.promoter")

MAX_BATCHES_PER_PASS = 32


@attrs.frozen
class PromoterConfig:
    batch_size: int = 4096
    min_interval: float = 0.05
    max_idle: float = 10.0


@attrs.frozen
class PromoteResult:
    promoted: int
    max_lateness: float
    next_due_in: float | None


class Promoter:
    def __init__(
        self,
        db: Db,
        config: PromoterConfig,
        *,
        listener: Listener | None,
        signals: Signals,
        trace: SpecTrace,
    ) -> None:
        self.db = db
        self.config = config
        self.listener = listener
        self.signals = signals
        self.trace = trace

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async def promote() -> float | None:
            return (await self.run_once()).next_due_in

        await run_when_due(
            "promote",
            promote,
            task_status=task_status,
            signals=self.signals,
            listener=self.listener,
            channel=DEFERRED_CHANNEL,
            max_sleep=self.config.max_idle,
            min_interval=self.config.min_interval,
        )

    async def run_once(self) -> PromoteResult:
        """Promote everything due, batch by batch.

        Spec: AwaCore!Promote
        Spec: AwaLeader!Promote
        Spec: AwaCallback!Promote
        """
        promoted = 0
        lateness = 0.0
        for _ in range(MAX_BATCHES_PER_PASS):
            row = await self.db.one(Q["job_promote_due"], {"limit": self.config.batch_size})
            count = int(row["promoted"]) if row else 0
            promoted += count
            if row and count:
                lateness = max(lateness, float(row["max_lateness"]))
            if count < self.config.batch_size:
                break
        if promoted:
            self.trace.emit("Promote", count=promoted)
            self.signals.emit("promoted", count=promoted, max_lateness=lateness)
        due = await self.db.one(Q["job_next_due"])
        next_due = None if due is None or due["seconds"] is None else max(0.0, due["seconds"])
        return PromoteResult(promoted, lateness, next_due)
