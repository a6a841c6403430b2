"""The heartbeater: keeps this worker's running jobs fresh, in batches.

A heartbeat that finds no row for a lease means the job was rescued,
cancelled or claimed again elsewhere: that attempt's handler is cancelled.
Pending progress rides along with the heartbeat.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable

import anyio
import attrs
from anyio.abc import TaskStatus

from awa._runtime.db import Db
from awa._runtime.lease import LEASE_LOST, InFlight, LeaseToken
from awa._runtime.signals import Signals
from awa._runtime.spec_trace import SpecTrace
from awa._sql import Q
from awa.errors import AwaError

logger = logging.getLogger("awa.heartbeat")

CHUNK = 500


@attrs.frozen
class HeartbeatResult:
    alive: int
    lost: int


class Heartbeater:
    def __init__(
        self,
        db: Db,
        inflight: InFlight,
        *,
        interval: float,
        signals: Signals,
        trace: SpecTrace,
        worker: str,
        queued: Callable[[], Iterable[LeaseToken]] = tuple,
    ) -> None:
        self.db = db
        self.inflight = inflight
        self.queued = queued
        self.interval = interval
        self.signals = signals
        self.trace = trace
        self.worker = worker
        self.alive = False
        self.beats = 0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.alive = True
        task_status.started()
        try:
            while True:
                await anyio.sleep(self.interval)
                try:
                    await self.beat()
                except AwaError as exc:
                    logger.warning("heartbeat failed: %s", exc)
        finally:
            self.alive = False

    async def beat(self) -> HeartbeatResult:
        """Refresh every running attempt; cancel the ones whose lease is gone.

        Spec: AwaCore!Heartbeat
        Spec: AwaCore!LeaseLost
        Spec: AwaShutdown!Heartbeat
        Spec: AwaLeader!Heartbeat
        Spec: AwaCallback!LeaseLost
        """
        attempts = list(self.inflight)
        alive = lost = batches = 0
        queued = [t for t in self.queued() if t not in self.inflight]
        for start in range(0, len(queued), CHUNK):
            chunk_tokens = queued[start : start + CHUNK]
            rows = await self.db.many(
                Q["job_heartbeat_many"],
                {
                    "ids": [t.job_id for t in chunk_tokens],
                    "leases": [t.run_lease for t in chunk_tokens],
                    "progress": [None] * len(chunk_tokens),
                },
            )
            alive += len(rows)
            batches += 1
        for start in range(0, len(attempts), CHUNK):
            chunk = attempts[start : start + CHUNK]
            pending = [a.context._pending_progress() for a in chunk]
            rows = await self.db.many(
                Q["job_heartbeat_many"],
                {
                    "ids": [a.token.job_id for a in chunk],
                    "leases": [a.token.run_lease for a in chunk],
                    "progress": [None if p is None else json.dumps(p[1]) for p in pending],
                },
            )
            batches += 1
            fresh = {LeaseToken(r["id"], r["run_lease"]) for r in rows}
            for attempt, progress in zip(chunk, pending, strict=True):
                if attempt.token in fresh:
                    alive += 1
                    if progress is not None:
                        attempt.context._progress_written(progress[0])
                    self.trace.emit(
                        "Heartbeat",
                        job=attempt.token.job_id,
                        lease=attempt.token.run_lease,
                        worker=self.worker,
                    )
                elif attempt.token in self.inflight:
                    lost += 1
                    logger.warning(
                        "job %s lost its lease %s (rescued, cancelled or re-claimed):"
                        " cancelling its handler",
                        attempt.token.job_id,
                        attempt.token.run_lease,
                    )
                    attempt.cancel(LEASE_LOST)
                    self.trace.emit(
                        "LeaseLost",
                        job=attempt.token.job_id,
                        lease=attempt.token.run_lease,
                        worker=self.worker,
                    )
                    self.signals.emit(
                        "lease_lost",
                        id=attempt.token.job_id,
                        lease=attempt.token.run_lease,
                        queue=attempt.queue,
                    )
        self.beats += 1
        self.signals.emit("heartbeat", alive=alive, lost=lost, batches=batches)
        return HeartbeatResult(alive, lost)


async def write_progress(db: Db, token: LeaseToken, progress: dict[str, object]) -> bool:
    """Write one attempt's progress now (fenced); False when the lease is gone."""
    row = await db.one(
        Q["job_progress_set"],
        {"id": token.job_id, "lease": token.run_lease, "progress": json.dumps(progress)},
    )
    return row is not None
