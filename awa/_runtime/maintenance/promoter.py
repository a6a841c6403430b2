"""The promoter: deferred jobs (scheduled, retryable) become available when due.

It promotes in bounded batches, then sleeps until the next job is due (at
least ``min_interval``, at most ``max_idle``); new deferred work wakes it
early through NOTIFY ``awa:deferred``.
"""

from __future__ import annotations

import logging
import time

import anyio
import attrs
from anyio.abc import TaskStatus

from awa._db.listener import Listener
from awa._model.channels import DEFERRED_CHANNEL
from awa._runtime.db import Db
from awa._runtime.signals import Signals
from awa._runtime.spec_trace import SpecTrace
from awa._sql import Q
from awa.errors import AwaError

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
        self._wake = anyio.Event()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        subscription = None
        if self.listener is not None:
            subscription = self.listener.subscribe(DEFERRED_CHANNEL, lambda _p: self._wake.set())
        task_status.started()
        try:
            while True:
                self._wake = anyio.Event()
                delay = self.config.max_idle
                started = time.perf_counter()
                ok = True
                try:
                    result = await self.run_once()
                    if result.next_due_in is not None:
                        delay = min(delay, result.next_due_in)
                except AwaError as exc:
                    ok = False
                    logger.warning("promotion failed: %s", exc)
                self.signals.emit(
                    "maintenance_pass",
                    task="promote",
                    duration=time.perf_counter() - started,
                    ok=ok,
                )
                await anyio.sleep(self.config.min_interval)
                with anyio.move_on_after(max(0.0, delay - self.config.min_interval)):
                    await self._wake.wait()
        finally:
            if subscription is not None:
                subscription.close()

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
