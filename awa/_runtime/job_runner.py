"""Running one claimed job: a task, a cancel scope, a lease token.

The handler runs in the attempt's cancel scope (with the queue's deadline).
Admin cancel, a lost lease, the deadline or shutdown cancel that scope; a
plain ``def`` handler runs in a worker thread and can only be asked to stop
(``job.is_cancelled()``). The outcome is handed to the completer, shielded
and bounded, so a cancelled runtime still records what finished.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

import anyio

from awa._model.codec import structure
from awa._model.job import Job, job_from_row
from awa._model.registry import Handler, Registry
from awa._model.runtime_config import QueueConfig
from awa._runtime import outcome as outcomes
from awa._runtime.completion import Completer
from awa._runtime.context import JobContext, JobServices
from awa._runtime.lease import ADMIN, LEASE_LOST, SHUTDOWN, Attempt, InFlight, LeaseToken
from awa._runtime.outcome import Outcome
from awa._runtime.signals import Signals
from awa._runtime.telemetry import JobSpan, RuntimeTelemetry
from awa.errors import ValidationError

logger = logging.getLogger("awa.worker")

_ABANDONED = object()  # a forced shutdown stopped waiting for the handler's thread


class JobRunner:
    def __init__(
        self,
        *,
        registry: Registry,
        inflight: InFlight,
        completer: Completer,
        services: JobServices,
        signals: Signals,
        finalize_timeout: float,
        thread_limiter: anyio.CapacityLimiter,
        telemetry: RuntimeTelemetry | None = None,
    ) -> None:
        self.registry = registry
        self.inflight = inflight
        self.completer = completer
        self.services = services
        self.signals = signals
        self.finalize_timeout = finalize_timeout
        self.thread_limiter = thread_limiter
        self.telemetry = telemetry

    async def run(self, row: dict[str, Any], queue: QueueConfig) -> None:
        """Run a claimed job to its outcome.

        Spec: AwaShutdown!HandlerReturns
        Spec: AwaShutdown!HandlerStops
        """
        job = job_from_row(row)
        if self.telemetry is None:
            await self._run(job, queue, None)
            return
        with self.telemetry.job_span(job, queue.name) as span:
            await self._run(job, queue, span)

    async def _run(self, job: Job, queue: QueueConfig, span: JobSpan | None) -> None:
        token = LeaseToken(job.id, job.run_lease)
        handler = self.registry.handlers.get(job.kind)
        if handler is None:
            await self._finish(
                outcomes.failed_before_running(
                    job, token, "UnknownJobKind", f"no handler is registered for kind {job.kind!r}"
                ),
                span,
            )
            return
        try:
            args = structure(job.args, handler.args_type)
        except ValidationError as exc:
            await self._finish(
                outcomes.failed_before_running(job, token, "ArgsDecodeError", str(exc)), span
            )
            return
        deadline = time.monotonic() + queue.deadline if queue.deadline > 0 else None
        context = JobContext(job, args, token, services=self.services, deadline=deadline)
        attempt = Attempt(token, queue.name, context, handler.is_async)
        if handler.is_async and queue.deadline > 0:
            attempt.scope.deadline = anyio.current_time() + queue.deadline
        self.inflight.add(attempt)
        self.signals.emit(
            "job_started", id=job.id, lease=job.run_lease, kind=job.kind, queue=job.queue
        )
        started = time.monotonic()
        result: object = None
        error: BaseException | None = None
        try:
            with attempt.scope:
                result = await self._invoke(handler, attempt)
        except Exception as exc:
            error = exc
        finally:
            self.inflight.remove(attempt)
        if context._completed_in_transaction and error is None:
            # job.transaction() already completed it, in the handler's transaction.
            done = outcomes.from_result(None, job, token, None)
            done.duration = time.monotonic() - started
            if span is not None:
                span.outcome(done, None)
            self.completer.report_done(done)
            return
        decided = self._decide(attempt, job, result, error)
        if decided is None:
            if span is not None:
                span.outcome(None, error)
            return
        decided.duration = time.monotonic() - started
        await self._finish(decided, span, error)

    async def _invoke(self, handler: Handler, attempt: Attempt) -> object:
        if handler.is_async:
            return await handler.fn(attempt.context)
        # A thread can't be interrupted: keep waiting for it (shielded) unless
        # a forced shutdown abandons it.
        with anyio.CancelScope(shield=True) as thread_scope:
            attempt.thread_scope = thread_scope
            return await anyio.to_thread.run_sync(
                partial(handler.fn, attempt.context),
                abandon_on_cancel=True,
                limiter=self.thread_limiter,
            )
        return _ABANDONED

    def _decide(
        self, attempt: Attempt, job: Job, result: object, error: BaseException | None
    ) -> Outcome | None:
        token = attempt.token
        progress = attempt.context._progress_snapshot()
        reason = attempt.cancel_reason
        if result is _ABANDONED:
            logger.warning("job %s: abandoned its worker thread at shutdown", job.id)
            return None  # still running in the thread; rescued once stale
        if reason in (ADMIN, LEASE_LOST):
            # Someone else owns the row now: any write would be refused.
            logger.info("job %s stopped (%s): nothing to write", job.id, reason)
            return None
        if attempt.scope.cancelled_caught:
            if reason == SHUTDOWN:
                return outcomes.hand_back(job, token, progress)
            logger.warning("job %s passed its deadline: cancelled", job.id)
            return outcomes.deadline_exceeded(job, token, progress)
        if error is not None:
            logger.info("job %s (%s) raised %s: %s", job.id, job.kind, type(error).__name__, error)
            return outcomes.from_exception(error, job, token, progress)
        return outcomes.from_result(result, job, token, progress)

    async def _finish(
        self, outcome: Outcome, span: JobSpan | None, error: BaseException | None = None
    ) -> None:
        if span is not None:
            span.outcome(outcome, error)
        if self.completer.submit_nowait(outcome):
            return
        # Shielded: a cancelled runtime still records outcomes of finished jobs.
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.finalize_timeout) as timer:
            await self.completer.submit(outcome)
        if timer.cancelled_caught:
            logger.error("job %s: could not queue its outcome in time", outcome.token.job_id)
