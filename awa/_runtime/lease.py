"""Lease tokens and the registry of attempts running in this process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import anyio
import attrs

if TYPE_CHECKING:
    from awa._runtime.context import JobContext


@attrs.frozen
class LeaseToken:
    """The right to write for one attempt of one job: ``(job_id, run_lease)``.

    Every write a worker makes for the job matches both; once the job is
    rescued, cancelled or claimed again the token is stale and writes miss.
    """

    job_id: int
    run_lease: int


# Why an attempt's handler was cancelled.
ADMIN = "admin"
LEASE_LOST = "lease_lost"
DEADLINE = "deadline"
SHUTDOWN = "shutdown"


@attrs.define(eq=False)
class Attempt:
    """One attempt running here: its token, cancel scope and handler context."""

    token: LeaseToken
    queue: str
    context: JobContext
    is_async: bool
    scope: anyio.CancelScope = attrs.field(factory=anyio.CancelScope)
    thread_scope: anyio.CancelScope | None = None
    cancel_reason: str | None = None
    started: float = attrs.field(factory=time.monotonic)

    def cancel(self, reason: str) -> None:
        """Stop the handler: async handlers are cancelled, sync ones are asked to stop."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
        self.context._mark_cancelled()
        if self.is_async:
            self.scope.cancel()

    def abandon_thread(self) -> None:
        """Stop waiting for a sync handler's thread (it can't be interrupted)."""
        if self.thread_scope is not None:
            self.thread_scope.shield = False
            self.thread_scope.cancel()


class InFlight:
    """The attempts running in this process, by token."""

    def __init__(self) -> None:
        self._attempts: dict[LeaseToken, Attempt] = {}
        self._idle: anyio.Event | None = None

    def __len__(self) -> int:
        return len(self._attempts)

    def __iter__(self) -> Iterator[Attempt]:
        return iter(list(self._attempts.values()))

    def __contains__(self, token: object) -> bool:
        return token in self._attempts

    def add(self, attempt: Attempt) -> None:
        self._attempts[attempt.token] = attempt

    def remove(self, attempt: Attempt) -> None:
        self._attempts.pop(attempt.token, None)
        if not self._attempts and self._idle is not None:
            self._idle.set()

    def get(self, token: LeaseToken) -> Attempt | None:
        return self._attempts.get(token)

    def count(self, queue: str) -> int:
        return sum(1 for a in self._attempts.values() if a.queue == queue)

    def counts(self) -> dict[str, int]:
        """Attempts per queue (safe to call from another thread: reads a copy)."""
        found: dict[str, int] = {}
        for attempt in list(self._attempts.values()):
            found[attempt.queue] = found.get(attempt.queue, 0) + 1
        return found

    def cancel_all(self, reason: str) -> None:
        for attempt in list(self._attempts.values()):
            attempt.cancel(reason)

    async def wait_empty(self) -> None:
        while self._attempts:
            self._idle = anyio.Event()
            await self._idle.wait()
