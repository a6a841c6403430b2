"""Priority aging: long-waiting available jobs move up, so low priorities can't starve.

A job that has waited n of its queue's aging intervals gets priority
``original - n`` (at best 1); the claim query and its index stay untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import attrs
from anyio.abc import TaskStatus

from awa._model.runtime_config import QueueConfig
from awa._runtime.db import Db
from awa._runtime.service import run_every
from awa._runtime.signals import Signals
from awa._sql import Q


@attrs.frozen
class AgingConfig:
    interval: float = 60.0
    batch_size: int = 1000


class PriorityAger:
    def __init__(
        self, db: Db, config: AgingConfig, queues: Sequence[QueueConfig], *, signals: Signals
    ) -> None:
        self.db = db
        self.config = config
        self.queues = [q for q in queues if q.priority_aging_interval > 0]
        self.signals = signals

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        await run_every(
            "priority aging",
            self.run_once,
            self.config.interval,
            task_status=task_status,
            signals=self.signals,
            task="aging",
        )

    async def run_once(self) -> int:
        aged = 0
        for queue in self.queues:
            while True:
                row = await self.db.one(
                    Q["job_age_priorities"],
                    {
                        "queue": queue.name,
                        "interval": queue.priority_aging_interval,
                        "limit": self.config.batch_size,
                    },
                )
                count = int(row["aged"]) if row else 0
                aged += count
                if count < self.config.batch_size:
                    break
        if aged:
            self.signals.emit("aged", count=aged)
        return aged
