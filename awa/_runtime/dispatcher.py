"""One dispatcher per queue: wake, take permits, claim a batch, start job tasks.

Wake-ups come from NOTIFY on the queue's channel and from a job of this
queue finishing while work was left behind. Polling is the fallback: every
``poll_interval`` while LISTEN is down, every ``safety_poll_interval`` while
it works (every path that makes a job available also notifies). Permits
(slots) and rate-limit tokens are taken before claiming, so a claimed job
always has a slot to run in; what the claim did not use is given back.
"""

from __future__ import annotations

import logging
import time
from operator import itemgetter
from typing import Any, Protocol

import anyio
from anyio.abc import TaskGroup, TaskStatus

from awa._db.listener import Listener, Subscription
from awa._model.channels import queue_channel
from awa._model.runtime_config import QueueConfig
from awa._runtime.db import Db
from awa._runtime.job_runner import JobRunner
from awa._runtime.permits import Permits
from awa._runtime.signals import Signals
from awa._runtime.spec_trace import SpecTrace
from awa._sql import Q
from awa.errors import AwaError

logger = logging.getLogger("awa.dispatcher")

_CLAIM_ORDER = itemgetter("priority", "run_at", "id")

# With a backlog, a claim waits for several free slots (one round trip for
# many jobs), but no longer than this: free slots must not idle behind jobs
# that run for a long time.
CLAIM_LINGER = 0.01


class Limiter(Protocol):
    async def take(self, wanted: int) -> int: ...
    async def refund(self, count: int) -> None: ...
    def wait_time(self) -> float: ...


class Dispatcher:
    def __init__(
        self,
        queue: QueueConfig,
        *,
        db: Db,
        runner: JobRunner,
        listener: Listener | None,
        jobs: TaskGroup,
        permits: Permits,
        limiter: Limiter | None,
        signals: Signals,
        trace: SpecTrace,
        worker: str,
    ) -> None:
        self.queue = queue
        self.db = db
        self.runner = runner
        self.listener = listener
        self.jobs = jobs
        self.permits = permits
        self.limiter = limiter
        self.signals = signals
        self.trace = trace
        self.worker = worker
        self.running = 0
        self.claimed = 0
        self.rate_limited = 0
        self.alive = False
        self._wake = anyio.Event()
        self._backlog = True  # the last claim may have left jobs behind
        self._rate_wait: float | None = None
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
        return self.permits.available()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        if self.listener is not None:
            channel = queue_channel(self.queue.name)
            self._subscription = self.listener.subscribe(channel, self._on_notify, self._on_gap)
            await self.listener.wait_listening(channel)
        self.alive = True
        task_status.started()
        try:
            lingered = False
            while True:
                self._wake = anyio.Event()
                self._rate_wait = None
                if self._backlog and (lingered or self._worth_claiming):
                    try:
                        await self.run_once(force=lingered)
                    except AwaError as exc:
                        logger.warning("claim on queue %s failed: %s", self.queue.name, exc)
                wait = self._next_wait()
                lingering = (
                    self._backlog
                    and self._rate_wait is None
                    and self.permits.available() > 0
                    and not self._worth_claiming
                )
                if lingering:  # free slots, fewer than a batch: claim soon anyway
                    wait = min(wait, CLAIM_LINGER)
                with anyio.move_on_after(wait) as timer:
                    await self._wake.wait()
                lingered = lingering and timer.cancelled_caught
                if timer.cancelled_caught:
                    self._backlog = True  # the safety-net poll (or tokens refilled)
        finally:
            self.alive = False
            if self._subscription is not None:
                self._subscription.close()

    def _next_wait(self) -> float:
        if self.listener is not None and self.listener.stats.connected:
            wait = max(self.queue.poll_interval, self.queue.safety_poll_interval)
        else:
            wait = self.queue.poll_interval
        if self._rate_wait is not None:  # rate-limited: look again when a token is due
            wait = min(wait, self._rate_wait)
        return wait

    @property
    def _worth_claiming(self) -> bool:
        # With a backlog and jobs still running, wait until several slots are
        # free: one claim per finished job would cost a round trip per job.
        free = self.permits.available()
        if self.running == 0:
            return free > 0
        return free >= max(1, min(self.queue.claim_batch_size, self.permits.limit // 2))

    async def run_once(self, *, force: bool = False) -> int:
        """Claim and start jobs while there are permits, tokens and jobs; return how many.

        ``force``: claim once even if fewer slots are free than a batch.
        """
        started = 0
        while self._backlog and (force or self._worth_claiming):
            force = False
            wanted = min(self.permits.available(), self.queue.claim_batch_size)
            granted = self.permits.acquire(wanted)
            if granted == 0:
                break
            if self.limiter is not None:
                tokens = await self.limiter.take(granted)
                if tokens < granted:
                    self.permits.release(granted - tokens)
                    granted = tokens
                if granted == 0:
                    self.rate_limited += 1
                    self._rate_wait = self.limiter.wait_time()
                    self.signals.emit("rate_limited", queue=self.queue.name)
                    break
            try:
                rows = await self.claim(granted)
            except BaseException:
                self.permits.release(granted)
                raise
            unused = granted - len(rows)
            if unused:
                self.permits.release(unused)
                if self.limiter is not None:
                    await self.limiter.refund(unused)
            self._backlog = len(rows) == granted
            if not self._backlog:
                self.permits.idle()
            for row in sorted(rows, key=_CLAIM_ORDER):
                self.running += 1
                self.jobs.start_soon(self._run_job, row, name=f"awa job {row['id']}")
            started += len(rows)
        return started

    async def claim(self, limit: int) -> list[dict[str, Any]]:
        """Claim up to ``limit`` jobs: available -> running, each with a new lease.

        Spec: AwaCore!Claim
        Spec: AwaDispatch!Claim
        Spec: AwaConcurrencyKey!LockKey
        Spec: AwaConcurrencyKey!Count
        Spec: AwaConcurrencyKey!ClaimAndCommit
        Spec: AwaShutdown!Claim
        Spec: AwaLeader!Claim
        Spec: AwaCallback!Claim
        """
        started = time.perf_counter()
        rows = await self.db.many(
            Q["job_claim_many"],
            {"queue": self.queue.name, "limit": limit, "deadline": self.queue.deadline},
        )
        if self.signals.observed:
            # Waited: from due (run_at) to claimed, both by the database clock.
            self.signals.emit(
                "claim",
                queue=self.queue.name,
                count=len(rows),
                duration=time.perf_counter() - started,
                waits=[(r["attempted_at"] - r["run_at"]).total_seconds() for r in rows],
            )
        self.claimed += len(rows)
        if self.trace.enabled:
            for row in rows:
                self.trace.emit(
                    "Claim",
                    job=row["id"],
                    lease=row["run_lease"],
                    worker=self.worker,
                    attempt=row["attempt"],
                    max_attempts=row["max_attempts"],
                )
        if rows:
            self.signals.emit("claimed", queue=self.queue.name, count=len(rows))
        return [dict(r) for r in rows]

    async def _run_job(self, row: dict[str, Any]) -> None:
        try:
            await self.runner.run(row, self.queue)
        finally:
            self.running -= 1
            self.permits.release(1)
            self._wake.set()
