"""``JobContext``: what a handler receives as ``job``."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Protocol

import anyio
import anyio.from_thread
import attrs

from awa._db.transaction_async import AsyncTransaction
from awa._model.callbacks import (
    DEFAULT_CALLBACK_TIMEOUT,
    CallbackToken,
    check_expression,
    check_timeout,
)
from awa._model.codec import encode_object
from awa._model.insert import check_text
from awa._model.job import Job
from awa._runtime.lease import LeaseToken
from awa.errors import AwaError, CallbackTimeout, LeaseLost, ValidationError


class JobServices(Protocol):
    """What a running job may ask of its runtime (all fenced by the lease)."""

    async def write_progress(self, lease: LeaseToken, progress: dict[str, Any]) -> bool: ...

    async def register_callback(
        self, lease: LeaseToken, timeout: float, expressions: dict[str, str | None]
    ) -> CallbackToken | None: ...

    async def take_callback_result(self, lease: LeaseToken) -> tuple[bool, Any]: ...

    async def callback_remaining(
        self, lease: LeaseToken, callback_id: uuid.UUID
    ) -> float | None: ...

    def callback_event(self, lease: LeaseToken) -> anyio.Event: ...

    def forget_callback_event(self, lease: LeaseToken) -> None: ...

    def job_transaction(self, lease: LeaseToken) -> AsyncTransaction: ...

    callback_poll_interval: float


MAX_PROGRESS_BYTES = 256 * 1024


@attrs.define
class ProgressState:
    """In-memory progress, written by heartbeats or ``flush_progress()``."""

    value: dict[str, Any] | None
    generation: int = 0
    written: int = 0

    def pending(self) -> tuple[int, dict[str, Any]] | None:
        if self.value is None or self.generation == self.written:
            return None
        return self.generation, dict(self.value)

    def mark_written(self, generation: int) -> None:
        self.written = max(self.written, generation)


class JobContext:
    """The running job handed to a handler.

    Attributes mirror ``awa.Job`` (``id``, ``kind``, ``queue``, ``attempt``,
    ``max_attempts``, ``priority``, ``metadata``, ``tags``, ``errors``,
    ``run_at``, ``created_at``...), with ``args`` rebuilt as the handler's
    registered type. Progress set here is written with the next heartbeat, by
    ``flush_progress()``, and with the job's outcome; it is kept across
    retries, so ``job.progress`` can hold a checkpoint.
    """

    def __init__(
        self,
        job: Job,
        args: Any,
        lease: LeaseToken,
        *,
        services: JobServices,
        deadline: float | None,
    ) -> None:
        self.job = job
        self.args = args
        self.lease = lease
        self._services = services
        self._completed_in_transaction = False
        self._deadline = deadline
        self._cancelled = False
        self._progress = ProgressState(dict(job.progress) if job.progress else None)

    def __repr__(self) -> str:
        return f"<JobContext {self.kind} id={self.id} attempt={self.attempt}/{self.max_attempts}>"

    # -- the job record --------------------------------------------------

    @property
    def id(self) -> int:
        return self.job.id

    @property
    def kind(self) -> str:
        return self.job.kind

    @property
    def queue(self) -> str:
        return self.job.queue

    @property
    def attempt(self) -> int:
        return self.job.attempt

    @property
    def max_attempts(self) -> int:
        return self.job.max_attempts

    @property
    def priority(self) -> int:
        return self.job.priority

    @property
    def metadata(self) -> dict[str, Any]:
        return self.job.metadata

    @property
    def tags(self) -> tuple[str, ...]:
        return self.job.tags

    @property
    def errors(self) -> tuple[dict[str, Any], ...]:
        return self.job.errors

    @property
    def run_at(self) -> datetime:
        return self.job.run_at

    @property
    def created_at(self) -> datetime:
        return self.job.created_at

    @property
    def attempted_at(self) -> datetime | None:
        return self.job.attempted_at

    @property
    def deadline_at(self) -> datetime | None:
        return self.job.deadline_at

    @property
    def run_lease(self) -> int:
        return self.lease.run_lease

    # -- cancellation ----------------------------------------------------

    def is_cancelled(self) -> bool:
        """True once the job was cancelled, lost its lease, passed its deadline
        or the worker is shutting down. Sync handlers should check it."""
        if self._cancelled:
            return True
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _mark_cancelled(self) -> None:
        self._cancelled = True

    # -- progress --------------------------------------------------------

    @property
    def progress(self) -> dict[str, Any] | None:
        """``{"percent", "message", "metadata"}`` as last set (or stored by an earlier attempt)."""
        return None if self._progress.value is None else dict(self._progress.value)

    def set_progress(self, percent: float, message: str | None = None) -> None:
        """Record how far the job is (0..100, clamped at 100) and an optional message."""
        if isinstance(percent, bool) or not isinstance(percent, int | float):
            raise ValidationError("percent: expected a number", field="percent")
        if math.isnan(percent) or percent < 0:
            raise ValidationError("percent: must be between 0 and 100", field="percent")
        value = dict(self._progress.value or {})
        value["percent"] = min(percent, 100)
        if message is not None:
            value["message"] = check_text(message, "message")
        self._store(value)

    def update_metadata(self, values: dict[str, Any]) -> None:
        """Merge ``values`` (shallowly) into the progress metadata: a checkpoint."""
        if not isinstance(values, dict):
            raise ValidationError("update_metadata: expected a dict", field="metadata")
        value = dict(self._progress.value or {})
        metadata = dict(value.get("metadata") or {})
        metadata.update(values)
        value["metadata"] = metadata
        self._store(value)

    def _store(self, value: dict[str, Any]) -> None:
        plain, _ = encode_object(value, field="progress", max_bytes=MAX_PROGRESS_BYTES)
        self._progress.value = plain
        self._progress.generation += 1

    def _pending_progress(self) -> tuple[int, dict[str, Any]] | None:
        return self._progress.pending()

    def _progress_written(self, generation: int) -> None:
        self._progress.mark_written(generation)

    def _progress_snapshot(self) -> dict[str, Any] | None:
        """The progress to store with the outcome, or None to keep the stored one."""
        pending = self._progress.pending()
        return None if pending is None else pending[1]

    async def flush_progress(self) -> bool:
        """Write the progress now. False if the lease is gone (the job was
        rescued or cancelled): the write was refused, nothing changed."""
        pending = self._progress.pending()
        if pending is None:
            return True
        generation, value = pending
        written = await self._services.write_progress(self.lease, value)
        if written:
            self._progress.mark_written(generation)
        return written

    def flush_progress_sync(self) -> bool:
        """``flush_progress()`` for plain ``def`` handlers (running in a worker thread)."""
        return anyio.from_thread.run(self.flush_progress)

    # -- callbacks -------------------------------------------------------

    @property
    def callback_result(self) -> Any:
        """The payload a ``resume_external`` gave this job when it was parked."""
        return self.job.metadata.get("awa:callback_result")

    async def register_callback(
        self,
        timeout_seconds: float = DEFAULT_CALLBACK_TIMEOUT,
        *,
        filter: str | None = None,
        on_complete: str | None = None,
        on_fail: str | None = None,
        transform: str | None = None,
    ) -> CallbackToken:
        """Register a callback for this attempt; give ``token.id`` to the external system.

        Then ``return awa.WaitForCallback(token)`` (the job waits in
        ``waiting_external``, freeing the slot) or ``await
        job.wait_for_callback(token)`` (the handler waits). The CEL
        expressions (over ``payload``) are checked now; see ``awa.callbacks``.
        The callback times out after ``timeout_seconds``: the job is retried
        with backoff, or fails when its attempts are used up.

        Raises:
            ValidationError: a bad timeout or expression.
            LeaseLost: the job was rescued or cancelled meanwhile.
        """
        expressions = {
            "filter": check_expression(filter, "filter"),
            "on_complete": check_expression(on_complete, "on_complete"),
            "on_fail": check_expression(on_fail, "on_fail"),
            "transform": check_expression(transform, "transform"),
        }
        token = await self._services.register_callback(
            self.lease, check_timeout(timeout_seconds), expressions
        )
        if token is None:
            raise LeaseLost(f"job {self.id} no longer belongs to this attempt")
        return token

    def register_callback_sync(
        self, timeout_seconds: float = DEFAULT_CALLBACK_TIMEOUT, **kw: Any
    ) -> CallbackToken:
        """``register_callback`` for plain ``def`` handlers."""
        return anyio.from_thread.run(lambda: self.register_callback(timeout_seconds, **kw))

    async def wait_for_callback(self, token: CallbackToken, *, timeout: float | None = None) -> Any:
        """Wait here (the job stays running, heartbeats go on, the slot stays
        taken) until ``resume_external`` gives a payload; return it. Woken by
        NOTIFY, not by polling.

        Raises:
            CallbackTimeout: the callback's own timeout passed (database
                clock; ``heartbeat_callback`` pushes it out). Let it
                propagate: the job retries with backoff or fails.
            TimeoutError: nothing came within ``timeout`` seconds (the
                callback stays registered).
            LeaseLost: the job was completed, failed or cancelled from
                outside, rescued, or the token is stale (another
                ``register_callback`` replaced it).
        """
        if token.job_id != self.id or token.run_lease != self.run_lease:
            raise ValidationError("wait_for_callback: the token belongs to another attempt")
        deadline = math.inf if timeout is None else anyio.current_time() + timeout
        try:
            while True:
                event = self._services.callback_event(self.lease)
                found, payload = await self._services.take_callback_result(self.lease)
                if found:
                    return payload
                until_timeout = await self._services.callback_remaining(self.lease, token.id)
                if until_timeout is None:
                    # a resume may have landed between the two reads
                    found, payload = await self._services.take_callback_result(self.lease)
                    if found:
                        return payload
                    raise LeaseLost(
                        f"job {self.id}: callback {token.id} was resolved or replaced, or the"
                        " job was cancelled or rescued, while waiting"
                    )
                if until_timeout <= 0:
                    raise CallbackTimeout(f"callback {token.id} of job {self.id} timed out")
                remaining = deadline - anyio.current_time()
                if remaining <= 0:
                    raise TimeoutError(f"no callback for job {self.id} within {timeout}s")
                nap = min(remaining, until_timeout, self._services.callback_poll_interval)
                with anyio.move_on_after(nap):
                    await event.wait()
        finally:
            self._services.forget_callback_event(self.lease)

    def wait_for_callback_sync(self, token: CallbackToken, *, timeout: float | None = None) -> Any:
        """``wait_for_callback`` for plain ``def`` handlers."""
        return anyio.from_thread.run(lambda: self.wait_for_callback(token, timeout=timeout))

    # -- transactional completion ----------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncTransaction]:
        """Your writes and this job's completion, in one transaction.

        The job's row is locked first (fenced by the lease); when the block
        ends the job is completed in the same transaction, then it commits.
        If the lease is gone (rescued, cancelled), nothing of the block is
        committed and ``LeaseLost`` is raised; if the block raises, it all
        rolls back and the exception goes on (the usual retry). The handler
        should return after the block.
        """
        if self._completed_in_transaction:
            raise AwaError(f"job {self.id} was already completed by a transaction")
        async with self._services.job_transaction(self.lease) as tx:
            yield tx
        self._completed_in_transaction = True
