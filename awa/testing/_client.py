"""``AwaTestClient``: run jobs inline and assert on what was enqueued."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from functools import partial
from types import TracebackType
from typing import Any

import anyio.from_thread
import attrs

from awa._model.codec import encode_object
from awa._model.job import Job, job_from_row
from awa._model.kinds import derive_kind
from awa._model.registry import Registry
from awa._model.states import JobState, parse_state
from awa._runtime.db import Db
from awa._sql import Q
from awa.client import Client
from awa.client_async import AsyncClient
from awa.errors import AwaError, ValidationError
from awa.testing._worker import InlineWorker

__all__ = ("AwaTestClient", "FakeClock", "SyncAwaTestClient", "WorkResult")

#: States a job waits in before a worker runs it.
PENDING = frozenset({JobState.SCHEDULED, JobState.AVAILABLE, JobState.RETRYABLE})

_OUTCOMES = {
    JobState.COMPLETED: "completed",
    JobState.RETRYABLE: "retryable",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "cancelled",
    JobState.SCHEDULED: "snoozed",
    JobState.WAITING_EXTERNAL: "waiting_external",
    JobState.AVAILABLE: "available",
    JobState.RUNNING: "running",
}


class FakeClock:
    """Time that tests move forward by hand: the real clock plus an offset.

    After ``advance(...)``, the next ``work_one()`` or ``drain()`` lets that
    time pass for every job waiting its turn (scheduled jobs, retries,
    snoozes): their ``run_at`` moves that much earlier, and the ones now due
    run. The database clock is not changed, so timestamps awa writes (and
    ``run_at`` after a move) are real times.
    """

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        """The fake time (by this process's clock)."""
        return datetime.now(UTC) + self.offset

    def advance(
        self,
        delta: timedelta | float | None = None,
        *,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
    ) -> datetime:
        """Move the clock forward (a ``timedelta`` or seconds); return the new fake time."""
        step = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
        if delta is not None:
            step += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta():
            raise ValidationError("advance: the clock only moves forward", field="delta")
        self.offset += step
        return self.now()


@attrs.frozen
class WorkResult:
    """What one inline attempt did.

    Attributes:
        job: the job as stored after the attempt (None when nothing was claimable).
        outcome: ``"completed"``, ``"retryable"``, ``"failed"``, ``"cancelled"``,
            ``"snoozed"``, ``"waiting_external"``, ``"available"`` (handed back:
            a callback resumed it at once), or ``"no_job"``.
        exception: what the handler raised, if it raised.
    """

    job: Job | None
    outcome: str
    exception: BaseException | None = None

    @property
    def error(self) -> dict[str, Any] | None:
        """The error entry this attempt recorded (failed, retried or cancelled), if any."""
        if self.job is None or not self.job.errors:
            return None
        last = self.job.errors[-1]
        return last if last.get("attempt") in (self.job.attempt, None) else None


def _states(state: JobState | str | Iterable[JobState | str] | None) -> frozenset[JobState]:
    if state is None:
        return PENDING
    if isinstance(state, JobState | str):
        return frozenset({parse_state(state)})
    return frozenset(parse_state(s) for s in state)


def _expected_args(args: Any) -> tuple[dict[str, Any], bool]:
    """The args as JSON data, and whether they must match exactly (args objects)
    or only contain these items (dicts)."""
    plain, _ = encode_object(args, field="args", max_bytes=1 << 30)
    return plain, not isinstance(args, dict)


def _describe(jobs: list[Job]) -> str:
    if not jobs:
        return "  (none)"
    return "\n".join(
        f"  #{j.id} {j.kind} queue={j.queue} state={j.state.value} args={j.args}" for j in jobs
    )


class AwaTestClient:
    """Run jobs inline and check what was enqueued, in your own tests.

    Args:
        client: an ``AsyncClient`` on the test database.
        handlers: the client whose ``@worker`` handlers (and hooks) to run;
            default ``client``. Pass your application's client when its
            handlers are registered there but the test talks to a test database.
        deadline: seconds a handler may run before it is cancelled (as a
            queue's ``deadline``; 0 = none).
        clock: a ``FakeClock`` to share; a new one by default.

    Works under asyncio and trio. Nothing runs in the background: jobs run
    only inside ``work_one()`` and ``drain()``, in the calling task.
    """

    def __init__(
        self,
        client: AsyncClient,
        *,
        handlers: AsyncClient | Client | None = None,
        deadline: float = 300.0,
        clock: FakeClock | None = None,
    ) -> None:
        if not isinstance(client, AsyncClient):
            raise ValidationError(
                f"client: expected an awa.AsyncClient, got {type(client).__name__}"
                " (for awa.Client use SyncAwaTestClient)",
                field="client",
            )
        self.client = client
        self.clock = clock or FakeClock()
        source = client if handlers is None else handlers
        self._registry: Registry = source._registry
        self._db = Db(client._pool)
        self._worker = InlineWorker(self._db, self._registry, client._signals, deadline=deadline)
        self._applied = self.clock.offset  # the clock time waiting jobs have seen pass

    # -- running jobs -----------------------------------------------------

    async def work_one(self, *, queue: str | None = None) -> WorkResult:
        """Claim one job and run its handler here; return what happened.

        Jobs due by the fake clock are made available first. The job comes
        from ``queue``, or else from the queues of the registered handlers,
        in claim order (priority, run_at, id). Claim, lease, outcome and the
        fenced write are the workers' own; ``outcome`` is ``"no_job"`` when
        nothing is claimable.
        """
        queues = [queue] if queue is not None else self._registry.queues()
        if not queues:
            raise AwaError(
                "work_one: no handlers are registered: register them with @client.worker(...)"
                " (or pass handlers=your_app_client)"
            )
        await self._promote()
        row = await self._worker.claim(queues)
        if row is None:
            return WorkResult(None, "no_job")
        raised = await self._worker.run(row)
        job = await self.client.get_job(row["id"])
        return WorkResult(job, _OUTCOMES[job.state], raised)

    async def drain(self, *, queue: str | None = None, max_jobs: int = 1000) -> list[WorkResult]:
        """Run jobs until none is claimable (jobs they enqueue included).

        Retries and snoozes wait for their time as usual: advance the clock
        and drain again to run them. Raises ``AwaError`` after ``max_jobs``
        attempts (a job that keeps re-enqueueing itself).
        """
        results: list[WorkResult] = []
        while len(results) < max_jobs:
            result = await self.work_one(queue=queue)
            if result.job is None:
                return results
            results.append(result)
        raise AwaError(f"drain: jobs were still claimable after {max_jobs} attempts")

    async def _promote(self) -> int:
        """Let the time the clock moved pass for waiting jobs; promote the due ones."""
        pending = (self.clock.offset - self._applied).total_seconds()
        if pending > 0:
            await self._worker.pass_time(pending)
            self._applied = self.clock.offset
        return await self._worker.promote()

    async def advance(self, delta: timedelta | float | None = None, **units: float) -> int:
        """``clock.advance(...)``, then make what is due available; return how many."""
        self.clock.advance(delta, **units)
        return await self._promote()

    # -- looking at jobs ---------------------------------------------------

    async def jobs(
        self,
        *,
        kind: str | None = None,
        queue: str | None = None,
        state: JobState | str | Iterable[JobState | str] | None = None,
    ) -> list[Job]:
        """Jobs of a kind/queue in the given state(s) (default: waiting to run), oldest first."""
        rows = await self._db.many(
            Q["testing_jobs"],
            {
                "kind": kind,
                "queue": queue,
                "states": sorted(s.value for s in _states(state)),
            },
        )
        return [job_from_row(r) for r in rows]

    async def _matching(
        self,
        kind: str | None,
        args: Any,
        queue: str | None,
        state: JobState | str | Iterable[JobState | str] | None,
        priority: int | None,
    ) -> tuple[list[Job], list[Job]]:
        if kind is None and args is not None and not isinstance(args, dict):
            kind = derive_kind(type(args).__name__)
        candidates = await self.jobs(kind=kind, queue=queue, state=state)
        matches = candidates
        if args is not None:
            expected, exact = _expected_args(args)
            matches = [
                j
                for j in matches
                if (
                    j.args == expected
                    if exact
                    else all(k in j.args and j.args[k] == v for k, v in expected.items())
                )
            ]
        if priority is not None:
            matches = [j for j in matches if j.priority == priority]
        return matches, candidates

    async def assert_enqueued(
        self,
        *,
        kind: str | None = None,
        args: Any = None,
        queue: str | None = None,
        state: JobState | str | Iterable[JobState | str] | None = None,
        priority: int | None = None,
        count: int | None = None,
    ) -> list[Job]:
        """Assert that matching jobs wait to run; return them (oldest first).

        ``args`` is a dict (the job's args must contain these items) or an
        args object (they must equal it; its kind is implied). ``state``
        defaults to waiting to run (scheduled, available, retryable).
        ``count`` asks for exactly that many; otherwise at least one.
        """
        matches, candidates = await self._matching(kind, args, queue, state, priority)
        if (count is None and not matches) or (count is not None and len(matches) != count):
            wanted = "at least one" if count is None else f"exactly {count}"
            criteria = ", ".join(
                f"{name}={value!r}"
                for name, value in (
                    ("kind", kind),
                    ("args", args),
                    ("queue", queue),
                    ("state", state),
                    ("priority", priority),
                )
                if value is not None
            )
            raise AssertionError(
                f"expected {wanted} job matching {criteria or 'anything'}, found {len(matches)}."
                f" Jobs in the searched states:\n{_describe(candidates)}"
            )
        return matches

    async def assert_not_enqueued(
        self,
        *,
        kind: str | None = None,
        args: Any = None,
        queue: str | None = None,
        state: JobState | str | Iterable[JobState | str] | None = None,
        priority: int | None = None,
    ) -> None:
        """Assert that no matching job waits to run (same matching as ``assert_enqueued``)."""
        matches, _ = await self._matching(kind, args, queue, state, priority)
        if matches:
            raise AssertionError(
                f"expected no matching job, found {len(matches)}:\n{_describe(matches)}"
            )

    async def clean(self) -> None:
        """Delete every job, schedule and queue setting (for a database shared by tests)."""
        await self._db.exec(Q["testing_clean"])


class SyncAwaTestClient:
    """``AwaTestClient`` for sync tests and the sync ``awa.Client``.

    Runs an event loop in a background thread; every method blocks until
    done. Plain ``def`` handlers run in worker threads, ``async def`` ones on
    that loop. Close it (or use ``with``) when done.
    """

    def __init__(
        self,
        client: Client | str,
        *,
        handlers: AsyncClient | Client | None = None,
        deadline: float = 300.0,
        clock: FakeClock | None = None,
    ) -> None:
        source: AsyncClient | Client | None
        if isinstance(client, Client):
            url, source = client.database_url, handlers or client
        elif isinstance(client, str):
            url, source = client, handlers
        else:
            raise ValidationError(
                f"client: expected an awa.Client or a database URL, got {type(client).__name__}",
                field="client",
            )
        self.clock = clock or FakeClock()
        self._portal_cm: AbstractContextManager[anyio.from_thread.BlockingPortal] = (
            anyio.from_thread.start_blocking_portal("asyncio")
        )
        self._portal = self._portal_cm.__enter__()
        try:
            self._tester = self._portal.call(self._make, url, source, deadline, self.clock)
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise

    @staticmethod
    async def _make(
        url: str, handlers: AsyncClient | Client | None, deadline: float, clock: FakeClock
    ) -> AwaTestClient:
        client = AsyncClient(url)
        return AwaTestClient(client, handlers=handlers, deadline=deadline, clock=clock)

    def _call(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        return self._portal.call(partial(fn, **kwargs))

    def work_one(self, *, queue: str | None = None) -> WorkResult:
        result: WorkResult = self._call(self._tester.work_one, queue=queue)
        return result

    def drain(self, *, queue: str | None = None, max_jobs: int = 1000) -> list[WorkResult]:
        results: list[WorkResult] = self._call(self._tester.drain, queue=queue, max_jobs=max_jobs)
        return results

    def advance(self, delta: timedelta | float | None = None, **units: float) -> int:
        promoted: int = self._portal.call(partial(self._tester.advance, delta, **units))
        return promoted

    def jobs(self, **filters: Any) -> list[Job]:
        jobs: list[Job] = self._call(self._tester.jobs, **filters)
        return jobs

    def assert_enqueued(self, **match: Any) -> list[Job]:
        jobs: list[Job] = self._call(self._tester.assert_enqueued, **match)
        return jobs

    def assert_not_enqueued(self, **match: Any) -> None:
        self._call(self._tester.assert_not_enqueued, **match)

    def clean(self) -> None:
        self._call(self._tester.clean)

    def close(self) -> None:
        """Close the test client's connections and its event loop."""
        try:
            self._portal.call(self._tester.client.close)
        finally:
            self._portal_cm.__exit__(None, None, None)

    def __enter__(self) -> SyncAwaTestClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
