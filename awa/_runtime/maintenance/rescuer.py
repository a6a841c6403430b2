"""The rescuer: running jobs whose worker died (stale heartbeat) or that ran past
their hard deadline go back to retryable, or to failed once their attempts are
used up. A unique-key conflict in a batch falls back to one job at a time, so
one bad row can't stop crash recovery for everyone (upstream awa #388)."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import attrs
from anyio.abc import TaskStatus

from awa._model.job import job_from_row
from awa._model.registry import JobEvent
from awa._runtime.db import Db
from awa._runtime.hooks import HookRunner
from awa._runtime.lease import LEASE_LOST, InFlight, LeaseToken
from awa._runtime.service import run_every
from awa._runtime.signals import Signals
from awa._runtime.spec_trace import SpecTrace
from awa._sql import Q
from awa.errors import UniqueConflict

logger = logging.getLogger("awa.rescuer")


@attrs.frozen
class RescuerConfig:
    interval: float = 30.0
    staleness: float = 90.0
    batch_size: int = 500


@attrs.frozen
class RescueResult:
    retried: int
    failed: int


class Rescuer:
    def __init__(
        self,
        db: Db,
        config: RescuerConfig,
        *,
        inflight: InFlight,
        hooks: HookRunner,
        signals: Signals,
        trace: SpecTrace,
    ) -> None:
        self.db = db
        self.config = config
        self.inflight = inflight
        self.hooks = hooks
        self.signals = signals
        self.trace = trace

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        await run_every(
            "rescue",
            self.run_once,
            self.config.interval,
            task_status=task_status,
            signals=self.signals,
            task="rescue",
        )

    def _params(self, only_id: int | None = None, force_fail: bool = False) -> dict[str, Any]:
        return {
            "staleness": self.config.staleness,
            "limit": self.config.batch_size,
            "only_id": only_id,
            "force_fail": force_fail,
        }

    async def run_once(self) -> RescueResult:
        """Rescue every stuck running job, in batches.

        Spec: AwaCore!RescueStale
        Spec: AwaCore!RescueDeadline
        Spec: AwaShutdown!RescueStale
        Spec: AwaLeader!RescueStale
        Spec: AwaCallback!Rescue
        """
        retried = failed = 0
        while True:
            try:
                rows = await self.db.many(Q["job_rescue_many"], self._params())
            except UniqueConflict:
                rows = await self._rescue_one_by_one()
            for row in rows:
                self._report(row)
                if str(row["state"]) == "failed":
                    failed += 1
                else:
                    retried += 1
            if len(rows) < self.config.batch_size:
                break
        timed_out = await self.expire_callbacks()
        if retried or failed or timed_out:
            self.signals.emit("rescued", retried=retried, failed=failed, timed_out=timed_out)
        return RescueResult(retried, failed)

    async def expire_callbacks(self) -> int:
        """Waiting jobs whose callback timed out: retryable (backoff), or failed.

        Spec: AwaCallback!CallbackTimeout
        """
        expired = 0
        while True:
            rows = await self.db.many(Q["callback_timeouts"], {"limit": self.config.batch_size})
            for row in rows:
                job = job_from_row(row)
                self.trace.emit("CallbackTimeout", job=job.id, lease=job.run_lease)
                self.signals.emit(
                    "callback_timed_out",
                    id=job.id,
                    state=job.state.value,
                    kind=job.kind,
                    queue=job.queue,
                )
                self.hooks.fire(JobEvent("rescued", job, job.errors[-1] if job.errors else None))
            expired += len(rows)
            if len(rows) < self.config.batch_size:
                return expired

    async def _rescue_one_by_one(self) -> list[Any]:
        rescued: list[Any] = []
        candidates = await self.db.many(Q["job_rescue_candidates"], self._params())
        for candidate in candidates:
            job_id = candidate["id"]
            try:
                rescued.extend(await self.db.many(Q["job_rescue_many"], self._params(job_id)))
            except UniqueConflict as exc:
                logger.warning(
                    "job %s: its unique key is held by job %s; failing it instead of retrying",
                    job_id,
                    exc.existing_job_id,
                )
                try:
                    rescued.extend(
                        await self.db.many(Q["job_rescue_many"], self._params(job_id, True))
                    )
                except UniqueConflict:
                    logger.error("job %s can't be rescued: its unique key is taken", job_id)
        return rescued

    def _report(self, row: Any) -> None:
        token = LeaseToken(row["id"], row["run_lease"])
        action = "RescueDeadline" if row["reason"] == "deadline" else "RescueStale"
        self.trace.emit(action, job=token.job_id, lease=token.run_lease, state=str(row["state"]))
        local = self.inflight.get(token)
        if local is not None:  # the attempt lives here: stop it now
            local.cancel(LEASE_LOST)
        self.signals.emit(
            "job_rescued",
            id=token.job_id,
            lease=token.run_lease,
            state=str(row["state"]),
            reason=row["reason"],
            kind=row["kind"],
            queue=row["queue"],
        )
        job = job_from_row(row)
        self.hooks.fire(JobEvent("rescued", job, job.errors[-1] if job.errors else None))
