"""Cron: declarations reach the database from every process; the leader fires them.

``CronSync`` runs in every worker process (not only the leader's, unlike
upstream awa) and upserts the process's declarations at start and every
``sync_interval``. ``CronScheduler`` runs on the leader: it reads every
schedule with the database clock, enqueues each due fire with a
compare-and-swap (so a fire is enqueued once even while two processes believe
they lead), then sleeps until the next fire; a schedule change wakes it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

import anyio
import attrs
from anyio.abc import TaskStatus

from awa._db.listener import Listener
from awa._model.cron import PeriodicJob, due_fires, periodic_params, schedule_of
from awa._runtime.db import Db
from awa._runtime.service import run_every, run_when_due
from awa._runtime.signals import Signals
from awa._runtime.spec_trace import SpecTrace
from awa._sql import Q
from awa.errors import AwaError

logger = logging.getLogger("awa.cron")

CRON_CHANNEL = "awa:cron"


@attrs.frozen
class CronConfig:
    sync_interval: float = 60.0
    max_sleep: float = 60.0


class CronSync:
    def __init__(self, db: Db, jobs: Mapping[str, PeriodicJob], config: CronConfig) -> None:
        self.db = db
        self.jobs = jobs
        self.config = config

    async def sync(self) -> int:
        for job in self.jobs.values():
            await self.db.exec(Q["cron_upsert"], periodic_params(job))
        return len(self.jobs)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        if self.jobs:
            try:
                await self.sync()
            except AwaError as exc:
                logger.warning("could not declare the periodic jobs: %s", exc)
        await run_every("cron sync", self.sync, self.config.sync_interval, task_status=task_status)


@attrs.frozen
class CronResult:
    fired: int
    next_in: float | None


class CronScheduler:
    def __init__(
        self,
        db: Db,
        config: CronConfig,
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
        async def evaluate() -> float | None:
            return (await self.run_once()).next_in

        await run_when_due(
            "cron",
            evaluate,
            task_status=task_status,
            signals=self.signals,
            listener=self.listener,
            channel=CRON_CHANNEL,
            max_sleep=self.config.max_sleep,
            error_delay=5.0,
        )

    async def run_once(self) -> CronResult:
        """Enqueue every due fire of every schedule; return when to look again.

        Spec: AwaCron!Evaluate
        Spec: AwaCron!Fire
        """
        rows = await self.db.many(Q["cron_list"])
        fired = 0
        next_in: float | None = None
        for row in rows:
            if row["paused_at"] is not None:
                continue
            schedule = schedule_of(row)
            if schedule is None:
                logger.error("cron %s: invalid expression or zone in the database", row["name"])
                continue
            now: datetime = row["db_now"]
            previous: datetime | None = row["last_enqueued_at"]
            fires = due_fires(
                schedule,
                last=previous,
                created=row["created_at"],
                now=now,
                policy=row["missed_fire_policy"],
            )
            for fire in fires:
                job = await self.db.one(
                    Q["cron_fire"], {"name": row["name"], "fire": fire, "previous": previous}
                )
                if job is None:
                    break  # fired elsewhere, paused or removed meanwhile
                previous = fire
                fired += 1
                self.trace.emit("Fire", schedule=row["name"], fire=fire.isoformat())
                self.signals.emit("cron_fired", name=row["name"], fire=fire, job=job["id"])
            following = schedule.next_fire(max(now, previous or now))
            until = max(0.0, (following - now).total_seconds())
            next_in = until if next_in is None else min(next_in, until)
            if len(fires) >= 1000:
                next_in = 0.0  # catching up: more fires are due
        return CronResult(fired, next_in)
