"""One dispatcher per queue: wake, take permits, claim a batch, start job tasks.

Wake-ups come from NOTIFY on the queue's channel and from a job of this
queue finishing while work was left behind. Polling is the fallback: every
``poll_interval`` while LISTEN is down, every ``safety_poll_interval`` while
it works (every path that makes a job available also notifies). Permits are
taken before claiming, so a claimed job always has a slot to run in.
"""

from __future__ import annotations

import logging
from operator import itemgetter
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from awa._db.listener import Listener, Subscription
from awa._model.channels import queue_channel
from awa._model.runtime_config import QueueConfig
from awa._runtime.db import Db
from awa._runtime.job_runner import JobRunner
from awa._runtime.signals import Signals
from awa._runtime.spec_trace import SpecTrace
from awa._sql import Q
from awa.errors import AwaError

logger = logging.getLogger("awa.dispatcher")

_CLAIM_ORDER = itemgetter("priority", "run_at", "id")


class Dispatcher:
    def __init__(
        self,
        queue: QueueConfig,
        *,
        db: Db,
        runner: JobRunner,
        listener: Listener | None,
        jobs: TaskGroup,
        signals: Signals,
        trace: SpecTrace,
        worker: str,
    ) -> None:
        self.queue = queue
        self.db = db
        self.runner = runner
        self.listener = listener
        self.jobs = jobs
        self.signals = signals
        self.trace = trace
        self.worker = worker
        self.running = 0
        self.claimed = 0
        self.alive = False
        self._wake = anyio.Event()
        self._backlog = True  # the last claim may have left jobs behind
        self._subscription: Subscription | None = None

    def wake(self) -> None:
        self._wake.set()

    def _on_notify(self, _payload: str) -> None:
        self._backlog = True
        self._wake.set()

    def _on_gap(self, _seconds: float) -> None:
        self._on_notify("")

    @property
    def capacity(self) -> int:
        return self.queue.max_workers - self.running

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        if self.listener is not None:
            channel = queue_channel(self.queue.name)
            self._subscription = self.listener.subscribe(channel, self._on_notify, self._on_gap)
            await self.listener.wait_listening(channel)
        self.alive = True
        task_status.started()
        try:
            while True:
                self._wake = anyio.Event()
                if self._backlog and self._worth_claiming:
                    try:
                        await self.run_once()
                    except AwaError as exc:
                        logger.warning("claim on queue %s failed: %s", self.queue.name, exc)
                with anyio.move_on_after(self._poll_interval()) as timer:
                    await self._wake.wait()
                if timer.cancelled_caught:
                    self._backlog = True  # the safety-net poll
        finally:
            self.alive = False
            if self._subscription is not None:
                self._subscription.close()

    def _poll_interval(self) -> float:
        if self.listener is not None and self.listener.stats.connected:
            return max(self.queue.poll_interval, self.queue.safety_poll_interval)
        return self.queue.poll_interval

    @property
    def _worth_claiming(self) -> bool:
        # With a backlog and jobs still running, wait until several slots are
        # free: one claim per finished job would cost a round trip per job.
        if self.running == 0:
            return self.capacity > 0
        return self.capacity >= max(
            1, min(self.queue.claim_batch_size, self.queue.max_workers // 2)
        )

    async def run_once(self) -> int:
        """Claim and start jobs while there are permits and jobs; return how many."""
        started = 0
        while self._worth_claiming and self._backlog:
            wanted = min(self.capacity, self.queue.claim_batch_size)
            rows = await self.claim(wanted)
            self._backlog = len(rows) == wanted
            for row in sorted(rows, key=_CLAIM_ORDER):
                self.running += 1
                self.jobs.start_soon(self._run_job, row, name=f"awa job {row['id']}")
            started += len(rows)
        return started

    async def claim(self, limit: int) -> list[dict[str, Any]]:
        """Claim up to ``limit`` jobs: available -> running, each with a new lease.

        Spec: AwaCore!Claim
        Spec: AwaDispatch!Claim
        """
        rows = await self.db.many(
            Q["job_claim_many"],
            {"queue": self.queue.name, "limit": limit, "deadline": self.queue.deadline},
        )
        self.claimed += len(rows)
        for row in rows:
            self.trace.emit("Claim", job=row["id"], lease=row["run_lease"], worker=self.worker)
        if rows:
            self.signals.emit("claimed", queue=self.queue.name, count=len(rows))
        return [dict(r) for r in rows]

    async def _run_job(self, row: dict[str, Any]) -> None:
        try:
            await self.runner.run(row, self.queue)
        finally:
            self.running -= 1
            self._wake.set()
