"""The cleaner: retention of finished jobs at the cost of partitions, not rows.

Terminal jobs live in hourly partitions per state class (completed; failed
and cancelled). The cleaner makes the coming hours' partitions and drops whole
partitions past retention. A queue with its own, shorter retention has its
rows deleted in bounded batches; a queue with a longer one keeps the
partitions alive for everyone, the other queues' rows being deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import anyio
import attrs
from anyio.abc import TaskStatus

from awa._runtime.db import Db
from awa._runtime.service import run_every
from awa._runtime.signals import Signals
from awa._sql import Q
from awa.errors import DatabaseError

logger = logging.getLogger("awa.cleaner")

RUNTIME_SNAPSHOT_RETENTION = 24 * 3600.0
_CLASSES = {
    "completed": ("jobs_completed", ["completed"]),
    "failed": ("jobs_failed", ["failed", "cancelled"]),
}


@attrs.frozen
class CleanerConfig:
    interval: float = 60.0
    completed_retention: float = 24 * 3600.0
    failed_retention: float = 72 * 3600.0
    # queue -> retention (seconds) overrides, per class
    completed_overrides: Mapping[str, float] = attrs.field(factory=dict)
    failed_overrides: Mapping[str, float] = attrs.field(factory=dict)
    batch_size: int = 1000
    lock_timeout: str = "2s"


@attrs.frozen
class CleanResult:
    partitions_created: int
    rows_dropped: int
    rows_deleted: int


class Cleaner:
    def __init__(self, db: Db, config: CleanerConfig, *, signals: Signals) -> None:
        self.db = db
        self.config = config
        self.signals = signals

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        await run_every(
            "cleanup",
            self.run_once,
            self.config.interval,
            task_status=task_status,
            first_delay=0,
            signals=self.signals,
            task="cleanup",
        )

    async def run_once(self) -> CleanResult:
        ahead = max(3 * 3600.0, 3 * self.config.interval)
        created = int(await self.db.value(Q["terminal_partitions_ensure"], {"ahead": ahead}) or 0)
        dropped = deleted = 0
        for name, (parent, states) in _CLASSES.items():
            retention = getattr(self.config, f"{name}_retention")
            overrides: Mapping[str, float] = getattr(self.config, f"{name}_overrides")
            longest = max([retention, *overrides.values()])
            dropped += await self._drop(parent, longest)
            if retention < longest:
                deleted += await self._delete(
                    states,
                    retention,
                    queues=None,
                    keep=[q for q, r in overrides.items() if r > retention],
                )
            for queue, queue_retention in overrides.items():
                if queue_retention < longest:
                    deleted += await self._delete(states, queue_retention, queues=[queue], keep=[])
        await self.db.one(Q["runtime_instances_prune"], {"older_than": RUNTIME_SNAPSHOT_RETENTION})
        await self._prune_concurrency_keys()
        result = CleanResult(created, dropped, deleted)
        self.signals.emit("cleaned", **attrs.asdict(result))
        return result

    async def _prune_concurrency_keys(self) -> int:
        """Forget per-key counters no unfinished job uses (bounded batches)."""
        pruned = 0
        while True:
            count = int(
                await self.db.value(Q["concurrency_keys_prune"], {"limit": self.config.batch_size})
                or 0
            )
            pruned += count
            if count < self.config.batch_size:
                return pruned

    async def _drop(self, parent: str, older_than: float) -> int:
        try:
            async with self.db.transaction() as tx:
                await tx.exec(Q["lock_timeout_local"], {"value": self.config.lock_timeout})
                row = await tx.one(
                    Q["terminal_partitions_drop"], {"parent": parent, "older_than": older_than}
                )
        except DatabaseError as exc:
            if exc.sqlstate != "55P03":  # lock_not_available: busy now, next round
                raise
            logger.info("retention for %s postponed: partitions busy", parent)
            return 0
        return int(row["dropped"]) if row else 0

    async def _delete(
        self, states: list[str], older_than: float, *, queues: list[str] | None, keep: list[str]
    ) -> int:
        total = 0
        while True:
            row = await self.db.one(
                Q["terminal_delete_older"],
                {
                    "states": states,
                    "older_than": older_than,
                    "queues": queues,
                    "keep_queues": keep,
                    "limit": self.config.batch_size,
                },
            )
            count = int(row["deleted"]) if row else 0
            total += count
            if count < self.config.batch_size:
                return total
