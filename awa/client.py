# WARNING: generated from awa/client_async.py by tools/async_to_sync.py -- do not edit.
# Edit the async source and regenerate.
"""``Client``: insert jobs and administer them (blocking calls).

The sync twin ``client.py`` is generated from this file by ``tools/async_to_sync.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from awa._db.executor import Executor
from awa._db.pool import Pool, PoolConfig
from awa._db.transaction import Transaction
from awa._model.callbacks import (
    ResolveResult,
    check_default_action,
    check_error_message,
    check_timeout,
    parse_callback_id,
)
from awa._model.codec import encode_json, encode_object
from awa._model.config import redact, resolve_database_url
from awa._model.cron import CronJobInfo
from awa._model.insert import (
    DEFAULT_MAX_ARGS_BYTES,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_METADATA_BYTES,
    DEFAULT_PRIORITY,
    DEFAULT_QUEUE,
    InsertManyResult,
    PayloadLimits,
    check_kind,
    check_name,
    check_on_unique_conflict,
    check_queue,
    check_text,
    prepare_insert,
    prepare_many,
)
from awa._model.job import Job, JobPage
from awa._model.states import JobState, parse_state
from awa._model.stats import (
    MigrationStatus,
    QueueDepth,
    QueueStat,
    RetryFailedResult,
    RuntimeInstance,
    ThroughputBucket,
    queue_stat_from_row,
)
from awa._model.unique import UniqueOpts, unique_key
from awa._runtime.spec_trace import default_trace
from awa._sql import LATEST_VERSION
from awa.errors import ConfigError, JobNotFound, ValidationError
from awa.worker import WorkerMixin

__all__ = ("Client",)

ProgressCallback = Callable[[int], None]

DEFAULT_BATCH_SIZE = 1000
MAX_LIST_LIMIT = 1000
MAX_SEARCH_LENGTH = 200
MAX_THROUGHPUT_MINUTES = 24 * 60


def _check_job_id(job_id: object) -> int:
    if isinstance(job_id, bool) or not isinstance(job_id, int) or job_id < 1:
        raise ValidationError(f"job_id: expected a positive int, got {job_id!r}", field="job_id")
    return job_id


def _check_batch_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
        raise ValidationError("batch_size: expected an int in 1..100000", field="batch_size")
    return value


def _check_cursor(cursor: object) -> int | None:
    if cursor is None:
        return None
    if isinstance(cursor, str) and cursor.isdigit() and 0 < len(cursor) < 20:
        return int(cursor)
    raise ValidationError(f"cursor: not a cursor from a previous page: {cursor!r}", field="cursor")


def _check_search(search: object) -> str | None:
    if search is None:
        return None
    return check_text(search, "search", MAX_SEARCH_LENGTH).strip() or None


def _optional(check: Callable[[object], str], value: object) -> str | None:
    return None if value is None else check(value)


class Client(WorkerMixin):
    """Insert jobs, administer them and run workers (blocking calls).

    Connections are opened on first use, from a bounded pool. Use it as
    ``with Client(url) as client:`` or call ``close()`` when done.
    Register handlers with ``@client.worker(ArgsType)`` and run them with
    ``client.start(queues)`` (see ``awa.worker``).

    Args:
        database_url: a PostgreSQL URL (``postgresql://user@host/db``) or
            conninfo string; ``$DATABASE_URL`` when omitted.
        max_connections: the pool's size.
        acquire_timeout: seconds to wait for a free connection before
            ``PoolTimeout``.
        connect_timeout: seconds opening one connection may take.
        max_args_bytes: largest args JSON accepted by ``insert``.
        max_metadata_bytes: largest metadata JSON accepted by ``insert``.
        pgbouncer: the URL points at PgBouncer in transaction mode: no
            server-side prepared statements, and workers hold the leader
            lock inside a transaction (see docs/deployment.md#pgbouncer).
            LISTEN/NOTIFY is checked at start either way; when it does not
            deliver, workers warn and poll.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        max_connections: int = 10,
        acquire_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_args_bytes: int = DEFAULT_MAX_ARGS_BYTES,
        max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES,
        pgbouncer: bool = False,
    ) -> None:
        if not isinstance(pgbouncer, bool):
            raise ConfigError("pgbouncer: expected a bool", field="pgbouncer")
        self.pgbouncer = pgbouncer
        self.database_url = resolve_database_url(database_url, os.environ)
        self.limits = PayloadLimits(
            max_args_bytes=max_args_bytes, max_metadata_bytes=max_metadata_bytes
        )
        self._pool = Pool(
            PoolConfig(
                conninfo=self.database_url,
                max_size=max_connections,
                acquire_timeout=acquire_timeout,
                connect_timeout=connect_timeout,
                prepare=not pgbouncer,
            )
        )
        self._schema_checked = False
        self._init_worker_state()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redact(self.database_url)}>"

    def _close_pool(self) -> None:
        self._pool.close()

    @property
    def closed(self) -> bool:
        return self._pool.closed

    @contextmanager
    def _executor(self, *, check_schema: bool = True) -> Iterator[Executor]:
        with self._pool.connection() as conn:
            executor = Executor(conn)
            if check_schema and not self._schema_checked:
                executor.require_schema()
                self._schema_checked = True
            yield executor

    # -- schema ----------------------------------------------------------

    def migrate(self) -> list[int]:
        """Create or upgrade the ``awa`` schema; return the versions applied.

        Idempotent and safe to run from many processes at once (they
        serialise on an advisory lock). Raises ``SchemaTooNew`` when the
        database is ahead of this version of awa.
        """
        with self._executor(check_schema=False) as executor:
            applied = executor.migrate()
        self._schema_checked = True
        return applied

    def grant_roles(self, *, worker: str | None = None, reader: str | None = None) -> None:
        """Give existing roles least privileges on the awa schema (idempotent).

        ``worker``: what workers and producers need (read and write job,
        queue and cron rows, run partition maintenance), nothing more: no
        DDL, no TRUNCATE, no migrations. ``reader``: SELECT only (the web UI
        in read-only mode, monitoring). Run it as the schema's owner, after
        ``migrate()`` and again after every upgrade. See docs/security.md.

        Raises:
            ConfigError: a role does not exist, or neither was given.
            ValidationError: not a valid role name.
        """
        with self._executor() as executor:
            executor.grant_roles(worker, reader)

    def migration_status(self) -> MigrationStatus:
        """The database's schema version and what ``migrate()`` would apply."""
        with self._executor(check_schema=False) as executor:
            current = executor.schema_version()
        return MigrationStatus(
            current=current,
            latest=LATEST_VERSION,
            pending=tuple(range(current + 1, LATEST_VERSION + 1)),
        )

    # -- producing -------------------------------------------------------

    def insert(
        self,
        args: Any,
        *,
        kind: str | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = DEFAULT_PRIORITY,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        tags: Iterable[str] | None = None,
        metadata: dict[str, Any] | None = None,
        run_at: datetime | timedelta | None = None,
        unique_opts: UniqueOpts | dict[str, Any] | None = None,
        concurrency_key: str | None = None,
        concurrency_limit: int | None = None,
    ) -> Job:
        """Insert one job and return it.

        Args:
            args: a dataclass, attrs class or pydantic model instance, or a
                dict (then ``kind`` is required). Must serialise to a JSON object.
            kind: the handler's kind; derived from the args class name
                (``SendEmail`` -> ``send_email``) when omitted.
            queue: the queue to run it on.
            priority: 1 (runs first) to 4.
            max_attempts: 1 to 1000 attempts before it fails for good.
            tags: up to 20 strings.
            metadata: a JSON object stored with the job.
            run_at: a timezone-aware datetime or a delay; the job is
                ``scheduled`` until then (``available`` at once when omitted
                or past, by the database clock).
            unique_opts: ``UniqueOpts`` or a dict of its fields: refuse a
                second job with the same key while the first is in one of
                the given states.
            concurrency_key: at most ``concurrency_limit`` (default 1) jobs
                with this key run at once, across every worker process.

        Raises:
            ValidationError: bad args or options; nothing was written.
            UniqueConflict: another job holds the unique key.
            QueueFull: the queue is past its ``max_depth`` (policy reject).

        Cancellation: if cancelled before the statement completes, nothing
        was inserted (or, past the commit point, the job exists).
        """
        row = prepare_insert(
            args,
            kind=kind,
            queue=queue,
            priority=priority,
            max_attempts=max_attempts,
            tags=tags,
            metadata=metadata,
            run_at=run_at,
            unique_opts=unique_opts,
            limits=self.limits,
            concurrency_key=concurrency_key,
            concurrency_limit=concurrency_limit,
        )
        with self._executor() as executor:
            return executor.job_insert(row)

    def insert_many(
        self,
        jobs: Sequence[Any],
        *,
        kind: str | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = DEFAULT_PRIORITY,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        tags: Iterable[str] | None = None,
        metadata: dict[str, Any] | None = None,
        run_at: datetime | timedelta | None = None,
        unique_opts: UniqueOpts | dict[str, Any] | None = None,
        on_unique_conflict: str = "raise",
        concurrency_key: str | None = None,
        concurrency_limit: int | None = None,
    ) -> InsertManyResult:
        """Insert many jobs with COPY, atomically.

        ``jobs`` holds args objects or ``InsertJob`` items (whose options
        override the ones given here). With unique options, conflicting jobs
        either make the call raise ``UniqueConflict`` with nothing written
        (``on_unique_conflict="raise"``) or are left out and reported in
        ``result.skipped`` (``"skip"``).

        Raises:
            ValidationError: a job or option is invalid (the message names the
                index); nothing was written.
        """
        check_on_unique_conflict(on_unique_conflict)
        rows = prepare_many(
            jobs,
            kind=kind,
            queue=queue,
            priority=priority,
            max_attempts=max_attempts,
            tags=tags,
            metadata=metadata,
            run_at=run_at,
            unique_opts=unique_opts,
            limits=self.limits,
            concurrency_key=concurrency_key,
            concurrency_limit=concurrency_limit,
        )
        with self._executor() as executor, executor.transaction():
            return executor.job_insert_many(rows, on_unique_conflict=on_unique_conflict)

    def transaction(self) -> Transaction:
        """A transaction for your SQL and awa's inserts together.

        ``with client.transaction() as tx:`` commits when the
        block ends and rolls back if it raises.
        """
        return Transaction(self._executor, self.limits)

    # -- reading ---------------------------------------------------------

    def get_job(self, job_id: int) -> Job:
        """The job with this id. Raises ``JobNotFound``."""
        job_id = _check_job_id(job_id)
        with self._executor() as executor:
            job = executor.job_get(job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} not found", job_id=job_id)
        return job

    def list_jobs(
        self,
        *,
        state: JobState | str | None = None,
        kind: str | None = None,
        queue: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        search: str | None = None,
    ) -> JobPage:
        """Jobs matching the filters, newest first, one page at a time.

        Pass the page's ``next_cursor`` as ``cursor`` for the next page.
        ``search`` matches a job id, or a substring (any case) of the kind,
        queue, a tag or the args JSON; it scans, so keep it for operators.
        """
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_LIST_LIMIT
        ):
            raise ValidationError(f"limit: expected an int in 1..{MAX_LIST_LIMIT}", field="limit")
        job_state = None if state is None else parse_state(state)
        with self._executor() as executor:
            return executor.job_list(
                state=job_state,
                kind=_optional(check_kind, kind),
                queue=_optional(check_queue, queue),
                limit=limit,
                before_id=_check_cursor(cursor),
                search=_check_search(search),
            )

    # -- admin -----------------------------------------------------------

    def retry(self, job_id: int) -> Job:
        """Make a failed, cancelled, scheduled, retryable or waiting job available now.

        The attempt count starts again from zero. Raises ``JobNotFound``, or
        ``InvalidStateError`` for a running or completed job.
        """
        job_id = _check_job_id(job_id)
        trace = default_trace()
        with self._executor() as executor:
            before = executor.job_get(job_id) if trace.enabled else None
            job = executor.job_retry(job_id)
        if before is not None and before.state is not JobState.AVAILABLE:
            trace.emit("AdminRetry", job=job.id, lease=job.run_lease, state=before.state.value)
        return job

    def cancel(self, job_id: int, *, reason: str = "cancelled by admin") -> Job:
        """Cancel a job that has not finished.

        A running job's worker is told at once (NOTIFY ``awa:cancel``) and
        its handler is cancelled; whatever it writes afterwards is refused.
        Cancelling a cancelled job returns it unchanged. Raises
        ``JobNotFound``, or ``InvalidStateError`` for a completed or failed job.
        """
        job_id = _check_job_id(job_id)
        check_text(reason, "reason")
        trace = default_trace()
        with self._executor() as executor:
            before = executor.job_get(job_id) if trace.enabled else None
            job = executor.job_cancel(job_id, reason)
        if before is not None and before.state is not JobState.CANCELLED:
            trace.emit("AdminCancel", job=job.id, lease=job.run_lease, state=before.state.value)
        return job

    def cancel_by_unique_key(
        self,
        kind: str,
        *,
        queue: str | None = None,
        args: Any = None,
        period_bucket: int | None = None,
    ) -> Job | None:
        """Cancel the oldest unfinished job inserted with these unique parts.

        Give the same parts the job's key was built from: ``queue`` if it was
        unique by queue, ``args`` if by args, ``period_bucket`` if by period.
        Returns the cancelled job, or ``None`` when none matched.
        """
        plain_args = None
        if args is not None:
            plain_args, _ = encode_object(args, field="args", max_bytes=self.limits.max_args_bytes)
        if period_bucket is not None and (
            isinstance(period_bucket, bool) or not isinstance(period_bucket, int)
        ):
            raise ValidationError("period_bucket: expected an int", field="period_bucket")
        key = unique_key(check_kind(kind), _optional(check_queue, queue), plain_args, period_bucket)
        with self._executor() as executor:
            return executor.job_cancel_by_unique_key(key, "cancelled by unique key")

    def retry_failed(
        self,
        *,
        kind: str | None = None,
        queue: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_progress: ProgressCallback | None = None,
    ) -> RetryFailedResult:
        """Make every failed job (of a kind and/or queue) available again.

        Works in batches of ``batch_size``, calling ``on_progress(retried)``
        after each. Jobs whose unique key another job now holds stay failed
        and are counted in ``unique_conflicts``.
        """
        with self._executor() as executor:
            retried, conflicts = executor.jobs_retry_failed(
                kind=_optional(check_kind, kind),
                queue=_optional(check_queue, queue),
                batch_size=_check_batch_size(batch_size),
                on_progress=on_progress,
            )
        return RetryFailedResult(retried=retried, unique_conflicts=conflicts)

    def discard_failed(
        self,
        kind: str | None = None,
        *,
        queue: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Delete failed jobs (of a kind and/or queue); return how many."""
        with self._executor() as executor:
            return executor.jobs_discard_failed(
                kind=_optional(check_kind, kind),
                queue=_optional(check_queue, queue),
                batch_size=_check_batch_size(batch_size),
                on_progress=on_progress,
            )

    def pause_queue(self, queue: str, *, paused_by: str | None = None) -> None:
        """Stop workers from claiming the queue's jobs; inserts still succeed."""
        queue = check_queue(queue)
        if paused_by is not None:
            check_name(paused_by, "paused_by")
        with self._executor() as executor:
            executor.queue_pause(queue, paused_by)

    def resume_queue(self, queue: str) -> None:
        """Let workers claim the queue's jobs again."""
        with self._executor() as executor:
            executor.queue_resume(check_queue(queue))

    def drain_queue(
        self,
        queue: str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Cancel every job of the queue that is waiting to run; return how many.

        Running jobs are left to finish.
        """
        with self._executor() as executor:
            return executor.queue_drain(
                check_queue(queue),
                batch_size=_check_batch_size(batch_size),
                on_progress=on_progress,
            )

    def queue_stats(self) -> list[QueueStat]:
        """Counts per queue, with lag and pause state."""
        with self._executor() as executor:
            rows = executor.queue_stats()
        return [queue_stat_from_row(r) for r in rows]

    def set_queue_limit(
        self, queue: str, max_depth: int | None, *, policy: str = "reject"
    ) -> QueueDepth:
        """Limit how many jobs may wait in a queue (available, scheduled,
        retryable); ``None`` removes the limit. Past it, inserts raise
        ``QueueFull`` (``policy="reject"``) or log a warning (``"warn"``). The
        depth is measured now, then by the leader every few seconds: an
        estimate."""
        queue = check_queue(queue)
        if max_depth is not None and (
            isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1
        ):
            raise ValidationError("max_depth: expected a positive int or None", field="max_depth")
        if policy not in ("reject", "warn"):
            raise ValidationError("policy: expected 'reject' or 'warn'", field="policy")
        with self._executor() as executor:
            return executor.queue_limit_set(queue, max_depth, policy)

    def queue_depth(self, queue: str) -> QueueDepth:
        """The queue's last measured depth and limit (cheap: one row read)."""
        queue = check_queue(queue)
        with self._executor() as executor:
            return executor.queue_depth_get(queue)

    # -- operator views ----------------------------------------------------

    def job_state_counts(self) -> dict[str, int]:
        """How many jobs are in each state (every state present, zeros included).

        Counts every table, finished jobs too: cheap while retention keeps
        the terminal partitions small, a scan otherwise.
        """
        with self._executor() as executor:
            found = executor.job_state_counts()
        return {state.value: found.get(state.value, 0) for state in JobState}

    def throughput(self, minutes: int = 60) -> list[ThroughputBucket]:
        """Jobs finished per minute over the last ``minutes`` (1..1440), oldest
        first; the last bucket is the current, partial minute."""
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, int)
            or not 1 <= minutes <= MAX_THROUGHPUT_MINUTES
        ):
            raise ValidationError(
                f"minutes: expected an int in 1..{MAX_THROUGHPUT_MINUTES}", field="minutes"
            )
        with self._executor() as executor:
            return executor.job_throughput(minutes)

    def job_kinds(self) -> list[str]:
        """Kinds of the unfinished jobs and of the stored schedules, sorted."""
        with self._executor() as executor:
            return executor.job_kinds()

    def runtime_instances(self, *, stale_after: float = 30.0) -> list[RuntimeInstance]:
        """Worker processes that published a snapshot; ``live`` when one was
        seen within ``stale_after`` seconds. Stopped ones are pruned by the leader."""
        if isinstance(stale_after, bool) or not isinstance(stale_after, int | float):
            raise ValidationError("stale_after: expected seconds", field="stale_after")
        if not 0 < stale_after <= 86_400:
            raise ValidationError(
                "stale_after: expected seconds in (0, 86400]", field="stale_after"
            )
        with self._executor() as executor:
            return executor.runtime_instance_list(float(stale_after))

    def database_read_only(self) -> bool:
        """True when this database refuses writes (a hot standby, or
        ``default_transaction_read_only`` set for the role or database)."""
        with self._executor(check_schema=False) as executor:
            return executor.database_read_only()

    # -- callbacks -------------------------------------------------------

    def _payload(self, payload: Any) -> str:
        return encode_json(payload, field="payload", max_bytes=self.limits.max_args_bytes)

    def complete_external(self, callback_id: Any, payload: Any = None) -> Job:
        """Complete the job waiting on ``callback_id`` (an early callback, while
        the handler still runs, works too). The payload is kept in the job's
        metadata under ``awa:callback_payload``. Raises ``CallbackNotFound``."""
        callback = parse_callback_id(callback_id)
        text = None if payload is None else self._payload(payload)
        with self._executor() as executor:
            return executor.callback_complete(callback, text)

    def fail_external(self, callback_id: Any, error: str) -> Job:
        """Fail the job waiting on ``callback_id``, recording ``error``."""
        callback = parse_callback_id(callback_id)
        entry = {
            "attempt": None,
            "type": "ExternalFailure",
            "message": check_error_message(error),
            "terminal": True,
        }
        with self._executor() as executor:
            return executor.callback_fail(callback, entry)

    def retry_external(self, callback_id: Any) -> Job:
        """Run a parked job again now (it fails if its attempts are used up)."""
        with self._executor() as executor:
            return executor.callback_retry(parse_callback_id(callback_id))

    def resume_external(self, callback_id: Any, payload: Any = None) -> Job:
        """Give ``payload`` to the job's handler: ``job.wait_for_callback()``
        returns it, or a parked job runs again with it in ``job.callback_result``
        (parking and resuming count as one attempt)."""
        callback = parse_callback_id(callback_id)
        text = self._payload(payload)
        with self._executor() as executor:
            return executor.callback_resume(callback, text)

    def heartbeat_callback(self, callback_id: Any, timeout_seconds: float = 3600.0) -> Job:
        """The external system is still on it: the callback times out
        ``timeout_seconds`` from now instead."""
        callback = parse_callback_id(callback_id)
        timeout = check_timeout(timeout_seconds)
        with self._executor() as executor:
            return executor.callback_heartbeat(callback, timeout)

    def resolve_callback(
        self, callback_id: Any, payload: Any = None, default_action: str = "ignore"
    ) -> ResolveResult:
        """Apply the callback's CEL rules (``filter``, ``on_fail``,
        ``on_complete``, ``transform``; see ``awa.callbacks``) to ``payload``:
        complete, fail or ignore. At most once per callback. Raises
        ``CallbackNotFound``."""
        callback = parse_callback_id(callback_id)
        action = check_default_action(default_action)
        text = self._payload(payload)
        with self._executor() as executor, executor.transaction():
            return executor.callback_resolve(callback, payload, text, action)

    # -- periodic jobs ---------------------------------------------------

    def sync_periodic(self) -> int:
        """Write this client's ``periodic()`` declarations to the database now.

        Workers do it when they start; a process that declares schedules
        without running workers calls this. Returns how many were written.
        """
        jobs = list(self._registry.periodic.values())
        with self._executor() as executor:
            for job in jobs:
                executor.cron_upsert(job)
        return len(jobs)

    def list_cron_jobs(self) -> list[CronJobInfo]:
        """Every stored schedule, with its next fire time (database clock)."""
        with self._executor() as executor:
            return executor.cron_list()

    def get_cron_job(self, name: str) -> CronJobInfo:
        """One schedule. Raises ``CronNotFound``."""
        with self._executor() as executor:
            return executor.cron_get(check_name(name, "name"))

    def pause_cron(self, name: str, *, paused_by: str | None = None) -> CronJobInfo:
        """Stop a schedule's automatic fires (manual triggers still work)."""
        if paused_by is not None:
            check_name(paused_by, "paused_by")
        with self._executor() as executor:
            return executor.cron_set_paused(check_name(name, "name"), True, paused_by)

    def resume_cron(self, name: str) -> CronJobInfo:
        """Resume a schedule; its missed-fire policy decides about fires missed meanwhile."""
        with self._executor() as executor:
            return executor.cron_set_paused(check_name(name, "name"), False, None)

    def trigger_cron(self, name: str) -> Job:
        """Enqueue a schedule's job now (even while paused); returns the job."""
        with self._executor() as executor:
            return executor.cron_trigger(check_name(name, "name"))

    def remove_cron(self, name: str) -> bool:
        """Delete a stored schedule; False if there was none. A process still
        declaring it writes it back when it next syncs."""
        with self._executor() as executor:
            return executor.cron_remove(check_name(name, "name"))
