"""``JobContext``: what a handler receives as ``job``."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import anyio.from_thread
import attrs

from awa._model.codec import encode_object
from awa._model.insert import check_text
from awa._model.job import Job
from awa._runtime.lease import LeaseToken
from awa.errors import ValidationError

ProgressWriter = Callable[[LeaseToken, dict[str, Any]], Awaitable[bool]]

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
        write_progress: ProgressWriter,
        deadline: float | None,
    ) -> None:
        self.job = job
        self.args = args
        self.lease = lease
        self._write_progress = write_progress
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
        written = await self._write_progress(self.lease, value)
        if written:
            self._progress.mark_written(generation)
        return written

    def flush_progress_sync(self) -> bool:
        """``flush_progress()`` for plain ``def`` handlers (running in a worker thread)."""
        return anyio.from_thread.run(self.flush_progress)
