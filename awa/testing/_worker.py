"""Running jobs inline, in the test's own task: the runtime's parts, without the runtime.

``InlineWorker`` claims with the workers' claim query, runs the handler with
the runtime's ``JobRunner`` (the same cancel scope, lease token, outcome
mapping and job services) and writes the outcome at once with the
completer's fenced batch statements. There are no background tasks: no
dispatcher, heartbeat, leader or listener.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import anyio

from awa._model.registry import Handler, Registry
from awa._model.runtime_config import QueueConfig
from awa._runtime.completion import Completer
from awa._runtime.db import Db
from awa._runtime.hooks import HookRunner
from awa._runtime.job_runner import JobRunner
from awa._runtime.job_services import RuntimeJobServices
from awa._runtime.lease import Attempt, InFlight
from awa._runtime.outcome import Outcome
from awa._runtime.signals import Signals
from awa._runtime.spec_trace import SpecTrace
from awa._sql import Q

WORKER_NAME = "awa.testing"
PROMOTE_BATCH = 100_000


class _InlineCompleter(Completer):
    """Writes each outcome as it is submitted, in the submitting task."""

    def submit_nowait(self, outcome: Outcome) -> bool:
        return False  # writing is awaited: always through submit()

    async def submit(self, outcome: Outcome) -> None:
        self.pending[outcome.token] = outcome
        try:
            await self.flush([outcome])
        finally:
            self.pending.pop(outcome.token, None)


class _RecordingRunner(JobRunner):
    """The runtime's job runner, keeping what the handler raised for the test."""

    raised: BaseException | None = None

    async def _invoke(self, handler: Handler, attempt: Attempt) -> object:
        try:
            return await super()._invoke(handler, attempt)
        except Exception as exc:
            self.raised = exc
            raise


class InlineWorker:
    def __init__(self, db: Db, registry: Registry, signals: Signals, *, deadline: float) -> None:
        self.db = db
        self.registry = registry
        self.signals = signals
        self.deadline = deadline
        self.hooks = HookRunner(registry)
        self.completer = _InlineCompleter(
            db,
            batch_size=1,
            keep_completed=True,
            hooks=self.hooks,
            signals=signals,
            trace=SpecTrace(None),
            worker=WORKER_NAME,
        )
        self.services = RuntimeJobServices(db, listener=None, keep_completed=True)

    async def pass_time(self, seconds: float) -> None:
        """Bring waiting jobs ``seconds`` closer to being due."""
        await self.db.exec(Q["testing_shift_scheduled"], {"seconds": seconds})

    async def promote(self) -> int:
        """Make due jobs available, with the leader's promoter statement."""
        row = await self.db.one(Q["job_promote_due"], {"limit": PROMOTE_BATCH})
        return int(row["promoted"]) if row is not None else 0

    async def claim(self, queues: list[str]) -> dict[str, Any] | None:
        """Claim the first claimable job of these queues (claim order across
        queues) with the workers' own claim statement."""
        heads = await self.db.many(Q["testing_queue_heads"], {"queues": queues})
        for head in sorted(heads, key=itemgetter("priority", "run_at", "id")):
            rows = await self.db.many(
                Q["job_claim_many"], {"queue": head["queue"], "limit": 1, "deadline": self.deadline}
            )
            if rows:
                self.signals.emit("claimed", queue=head["queue"], count=1)
                return dict(rows[0])
        return None

    async def run(self, row: dict[str, Any]) -> BaseException | None:
        """Run a claimed job to its written outcome; return what its handler raised."""
        runner = _RecordingRunner(
            registry=self.registry,
            inflight=InFlight(),
            completer=self.completer,
            services=self.services,
            signals=self.signals,
            finalize_timeout=30.0,
            thread_limiter=anyio.CapacityLimiter(1),
        )
        async with anyio.create_task_group() as hooks:
            self.hooks.attach(hooks)
            try:
                await runner.run(row, QueueConfig(name=row["queue"], deadline=self.deadline))
                await self.hooks.wait_idle()
            finally:
                self.hooks.attach(None)
        return runner.raised
