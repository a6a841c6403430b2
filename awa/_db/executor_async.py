"""Named queries on one connection: the producer and admin operations.

The sync twin ``executor.py`` is generated from this file by ``tools/async_to_sync.py``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb

from awa._db.connection import AnyioConnection
from awa._db.errors import translating
from awa._db.roles import role_statements
from awa._model import instrumentation
from awa._model.callbacks import ResolveResult, decide
from awa._model.cron import CronJobInfo, PeriodicJob, cron_info_from_row, periodic_params
from awa._model.insert import (
    InsertManyResult,
    InsertRow,
    SkippedJob,
    insert_params,
    inserted_job,
)
from awa._model.job import Job, JobPage, job_from_row
from awa._model.placeholders import check_placeholders
from awa._model.states import JobState, mask_to_states
from awa._model.stats import (
    QueueDepth,
    RuntimeInstance,
    ThroughputBucket,
    queue_depth_from_row,
    runtime_instance_from_row,
    throughput_bucket_from_row,
)
from awa._sql import LATEST_VERSION, MIGRATIONS, Q, Query
from awa.errors import (
    CallbackNotFound,
    ConfigError,
    CronNotFound,
    DatabaseError,
    InvalidStateError,
    JobNotFound,
    QueueFull,
    SchemaNotMigrated,
    SchemaTooNew,
    UniqueConflict,
)

logger = logging.getLogger("awa")

Params = Mapping[str, Any] | None
Row = DictRow
ProgressCallback = Callable[[int], None]

_DEADLOCK = "40P01"
_MIGRATE_ATTEMPTS = 5


def text_array_literal(items: Sequence[str]) -> str:
    """A PostgreSQL ``text[]`` literal."""
    quoted = (item.replace("\\", "\\\\").replace('"', '\\"') for item in items)
    return "{" + ",".join(f'"{item}"' for item in quoted) + "}"


def _adapt_user_arg(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict) else value


class AsyncExecutor:
    """Runs named queries on one borrowed connection."""

    def __init__(self, conn: AnyioConnection) -> None:
        self.conn = conn

    # -- generic ---------------------------------------------------------

    async def one(self, query: Query, params: Params = None) -> DictRow | None:
        with translating():
            cur = await self.conn.execute(
                query.text, params, prepare=None if query.prepare else False
            )
            return await cur.fetchone()

    async def many(self, query: Query, params: Params = None) -> list[DictRow]:
        with translating():
            cur = await self.conn.execute(
                query.text, params, prepare=None if query.prepare else False
            )
            return await cur.fetchall()

    async def exec(self, query: Query, params: Params = None) -> int:
        with translating():
            cur = await self.conn.execute(
                query.text, params, prepare=None if query.prepare else False
            )
            return cur.rowcount

    async def copy(self, query: Query, rows: Sequence[Sequence[Any]]) -> None:
        with translating():
            async with self.conn.cursor() as cur, cur.copy(query.text) as copy:
                for row in rows:
                    await copy.write_row(row)

    def copy_text_array(self, items: tuple[str, ...]) -> Any:
        """A ``text[]`` value as ``copy`` takes it: here a literal, which text
        COPY passes as it is (no dumper per row)."""
        return text_array_literal(items)

    async def exec_begin(self) -> None:
        await self.exec(Q["tx_begin"])

    async def exec_commit(self) -> None:
        await self.exec(Q["tx_commit"])

    async def exec_rollback(self) -> None:
        await self.exec(Q["tx_rollback"])

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncExecutor]:
        """BEGIN ... COMMIT, or ROLLBACK when the block raises.

        A rollback that can't run (the block was cancelled) is left to the pool,
        which rolls back or closes every connection it takes back.
        """
        await self.exec_begin()
        try:
            yield self
        except BaseException:
            try:
                await self.exec_rollback()
            except Exception:  # the connection is dead: the pool discards it
                pass
            raise
        await self.exec_commit()

    # -- caller-written SQL ----------------------------------------------

    async def user_query(self, sql: str, args: Sequence[Any]) -> tuple[int, list[DictRow]]:
        """Run SQL with ``$1, $2`` placeholders; return (row count, rows)."""
        check_placeholders(sql, len(args))
        with translating():
            async with psycopg.AsyncRawCursor(self.conn, row_factory=dict_row) as cur:
                await cur.execute(sql, [_adapt_user_arg(a) for a in args])
                rows = await cur.fetchall() if cur.description is not None else []
                return cur.rowcount, rows

    # -- schema ----------------------------------------------------------

    async def schema_version(self) -> int:
        """The applied schema version, 0 when awa was never migrated here."""
        present = await self.one(Q["schema_version_exists"])
        if present is None or not present["present"]:
            return 0
        row = await self.one(Q["schema_version_current"])
        return int(row["version"]) if row else 0

    async def require_schema(self) -> int:
        version = await self.schema_version()
        if version < LATEST_VERSION:
            raise SchemaNotMigrated(
                f"the awa schema is at version {version}, this awa needs {LATEST_VERSION}:"
                " run `awa migrate` or client.migrate()"
            )
        return version

    async def grant_roles(self, worker: str | None, reader: str | None) -> None:
        """Grant the worker and reader roles their privileges, in one transaction."""
        statements = role_statements(worker, reader)
        names = [n for n in (worker, reader) if n is not None]
        missing = [r["name"] for r in await self.many(Q["roles_missing"], {"names": names})]
        if missing:
            raise ConfigError(
                f"role(s) {', '.join(map(repr, missing))} do not exist: create them first"
                " (CREATE ROLE name LOGIN PASSWORD '...')",
                field="worker" if worker in missing else "reader",
            )
        async with self.transaction():
            for statement in statements:
                with translating():
                    await self.conn.execute(statement, prepare=False)

    async def migrate(self) -> list[int]:
        """Apply pending migrations in one transaction; return the versions applied.

        Concurrent callers serialise on an advisory lock; later ones find
        nothing to do. A deadlock with live traffic is retried.
        """
        for attempt in range(1, _MIGRATE_ATTEMPTS + 1):
            try:
                return await self._migrate_once()
            except DatabaseError as exc:
                if exc.sqlstate != _DEADLOCK or attempt == _MIGRATE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _migrate_once(self) -> list[int]:
        async with self.transaction():
            await self.exec(Q["schema_migration_lock"])
            current = await self.schema_version()
            if current > LATEST_VERSION:
                raise SchemaTooNew(
                    f"the database's awa schema is at version {current}, newer than the"
                    f" {LATEST_VERSION} this awa knows: upgrade awa instead of migrating"
                )
            applied: list[int] = []
            for migration in MIGRATIONS[current:]:
                with translating():
                    await self.conn.execute(migration.sql, prepare=False)
                await self.exec(
                    Q["schema_version_record"],
                    {"version": migration.version, "description": migration.description},
                )
                applied.append(migration.version)
            return applied

    # -- producing -------------------------------------------------------

    async def job_insert(self, row: InsertRow) -> Job:
        """Insert one job (or refuse it: QueueFull).

        Spec: AwaCore!Insert
        """
        runs_now = row.run_at is None and row.delay is None
        query = Q["job_insert_now"] if runs_now else Q["job_insert"]
        found = await self.one(query, insert_params(row))
        if found is None:
            raise await self._queue_full(row.queue, 1)
        if found["over_depth"]:
            logger.warning("queue %s is over its max_depth (policy: warn)", row.queue)
        instrumentation.inserted(((row.queue, row.kind),))
        return inserted_job(row, found)

    async def _queue_full(self, queue: str, adding: int) -> QueueFull:
        depth = await self.one(Q["queue_depth_get"], {"queue": queue})
        estimate = depth["depth_estimate"] if depth else None
        limit = depth["max_depth"] if depth else None
        return QueueFull(
            f"queue {queue!r} is full: about {estimate} jobs waiting, max_depth {limit};"
            f" {adding} job(s) not inserted",
            queue=queue,
            depth=estimate,
            max_depth=limit,
        )

    async def _check_depth(self, rows: Sequence[InsertRow]) -> None:
        """Refuse a batch that would take a 'reject' queue past its max_depth."""
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.queue] = counts.get(row.queue, 0) + 1
        for queue, adding in counts.items():
            depth = await self.one(Q["queue_depth_get"], {"queue": queue})
            if depth is None or depth["max_depth"] is None or depth["depth_estimate"] is None:
                continue
            if depth["depth_estimate"] + adding > depth["max_depth"]:
                if depth["depth_policy"] == "reject":
                    raise await self._queue_full(queue, adding)
                logger.warning("queue %s is over its max_depth (policy: warn)", queue)

    async def job_insert_many(
        self, rows: Sequence[InsertRow], *, on_unique_conflict: str
    ) -> InsertManyResult:
        """COPY a batch; must run inside a transaction.

        Spec: AwaCore!Insert

        Unique keys are claimed first, so conflicts are known before any row is
        written: with ``"raise"`` nothing is written and ``UniqueConflict``
        lists the first conflicts; with ``"skip"`` those jobs are left out and
        reported in ``skipped``.
        """
        if not rows:
            return InsertManyResult(ids=())
        await self._check_depth(rows)
        keys = sorted({r.concurrency_key for r in rows if r.concurrency_key is not None})
        if keys:
            await self.exec(Q["concurrency_keys_ensure"], {"keys": keys})
        allocated = await self.one(Q["job_ids_allocate"], {"count": len(rows)})
        ids: list[int] = allocated["ids"] if allocated is not None else []
        skipped = await self._claim_unique_keys(rows, ids, on_unique_conflict)
        left_out = {s.index for s in skipped}
        now = datetime.now(UTC)
        tag_literals: dict[tuple[str, ...], Any] = {}
        immediate: list[tuple[Any, ...]] = []
        due: list[tuple[Any, ...]] = []
        deferred: list[tuple[Any, ...]] = []
        for index, (row, job_id) in enumerate(zip(rows, ids, strict=True)):
            if index in left_out:
                continue
            values = (job_id, row.kind, row.queue, row.args, row.priority, row.max_attempts)
            tags = tuple(row.tags)
            tags_text = tag_literals.get(tags)
            if tags_text is None:
                tags_text = tag_literals[tags] = self.copy_text_array(tags)
            extra = (
                tags_text,
                row.metadata,
                row.unique_key,
                row.unique_states,
                row.concurrency_key,
                row.concurrency_limit,
            )
            if row.run_at is None and row.delay is None:
                immediate.append(values + extra)
                continue
            run_at = row.run_at if row.run_at is not None else now + row.delay  # type: ignore[operator]
            (due if run_at <= now else deferred).append((*values, run_at, *extra))
        if immediate:
            await self.copy(Q["job_copy_hot"], immediate)
        if due:
            await self.copy(Q["job_copy_hot_at"], due)
        if deferred:
            await self.copy(Q["job_copy_scheduled"], deferred)
        instrumentation.inserted(
            (row.queue, row.kind) for index, row in enumerate(rows) if index not in left_out
        )
        return InsertManyResult(
            ids=tuple(i for index, i in enumerate(ids) if index not in left_out),
            skipped=tuple(skipped),
        )

    async def _claim_unique_keys(
        self, rows: Sequence[InsertRow], ids: Sequence[int], on_unique_conflict: str
    ) -> list[SkippedJob]:
        wanted: list[tuple[int, bytes]] = []
        for index, row in enumerate(rows):
            if row.unique_key is None or row.unique_states is None:
                continue
            first_state = JobState.AVAILABLE if row.run_at is None and row.delay is None else None
            states = mask_to_states(row.unique_states)
            if first_state is None and not {JobState.AVAILABLE, JobState.SCHEDULED} & states:
                continue
            if first_state is not None and first_state not in states:
                continue
            wanted.append((index, row.unique_key))
        if not wanted:
            return []
        keys = [key for _, key in wanted]
        claimed_rows = await self.many(
            Q["job_unique_preclaim"], {"keys": keys, "ids": [ids[i] for i, _ in wanted]}
        )
        claimed = {r["id"] for r in claimed_rows}
        conflicts = [(i, key) for i, key in wanted if ids[i] not in claimed]
        if not conflicts:
            return []
        holders = {
            bytes(r["unique_key"]): r["job_id"]
            for r in await self.many(Q["job_unique_holders"], {"keys": [k for _, k in conflicts]})
        }
        skipped = [SkippedJob(i, key, holders.get(key)) for i, key in conflicts]
        if on_unique_conflict == "raise":
            await self.exec(Q["job_unique_release"], {"ids": sorted(claimed)})
            listed = ", ".join(
                f"jobs[{s.index}] (held by job {s.existing_job_id})" for s in skipped[:5]
            )
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            raise UniqueConflict(
                f"{len(skipped)} job(s) of the batch have a unique key already taken:"
                f" {listed}{more}; nothing was inserted (pass on_unique_conflict='skip'"
                " to insert the rest)",
                constraint="job_unique_claims_pkey",
                existing_job_id=skipped[0].existing_job_id,
                unique_key=skipped[0].unique_key,
            )
        return skipped

    # -- reading ---------------------------------------------------------

    async def job_get(self, job_id: int) -> Job | None:
        row = await self.one(Q["job_get"], {"id": job_id})
        return job_from_row(row) if row is not None else None

    async def job_list(
        self,
        *,
        state: JobState | None,
        kind: str | None,
        queue: str | None,
        limit: int,
        before_id: int | None,
        search: str | None = None,
    ) -> JobPage:
        params: dict[str, Any] = {
            "state": state.value if state is not None else None,
            "kind": kind,
            "queue": queue,
            "limit": limit + 1,
            "before_id": before_id,
        }
        if search is None:
            rows = await self.many(Q["job_list"], params)
        else:
            pattern = (
                "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            rows = await self.many(
                Q["job_search"], {**params, "search": search, "pattern": pattern}
            )
        jobs = tuple(job_from_row(r) for r in rows[:limit])
        next_cursor = str(jobs[-1].id) if len(rows) > limit and jobs else None
        return JobPage(jobs=jobs, next_cursor=next_cursor)

    # -- admin -----------------------------------------------------------

    async def _explain_miss(self, job_id: int, allowed: frozenset[JobState], verb: str) -> Job:
        """Raise the reason an admin update matched no row (or return an idempotent hit)."""
        job = await self.job_get(job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} not found", job_id=job_id)
        if job.state in allowed:
            return job
        raise InvalidStateError(
            f"job {job_id} is {job.state.value}: it can't be {verb}", job_id=job_id, state=job.state
        )

    async def job_retry(self, job_id: int) -> Job:
        """Admin retry.

        Spec: AwaCore!AdminRetry
        Spec: AwaCallback!AdminRetry
        """
        row = await self.one(Q["job_retry"], {"id": job_id})
        if row is not None:
            return job_from_row(row)
        return await self._explain_miss(job_id, frozenset({JobState.AVAILABLE}), "retried")

    async def job_cancel(self, job_id: int, reason: str) -> Job:
        """Admin cancel.

        Spec: AwaCore!AdminCancel
        Spec: AwaShutdown!AdminCancel
        Spec: AwaCallback!AdminCancel
        """
        row = await self.one(Q["job_cancel"], {"id": job_id, "reason": reason})
        if row is not None:
            return job_from_row(row)
        return await self._explain_miss(job_id, frozenset({JobState.CANCELLED}), "cancelled")

    async def job_cancel_by_unique_key(self, key: bytes, reason: str) -> Job | None:
        found = await self.one(Q["job_find_by_unique_key"], {"unique_key": key})
        if found is None:
            return None
        row = await self.one(Q["job_cancel"], {"id": found["id"], "reason": reason})
        return job_from_row(row) if row is not None else None

    async def jobs_retry_failed(
        self,
        *,
        kind: str | None,
        queue: str | None,
        batch_size: int,
        on_progress: ProgressCallback | None,
    ) -> tuple[int, int]:
        """Retry failed jobs batch by batch; return (retried, left for unique conflicts)."""
        retried = conflicted = 0
        after_id = 0
        while True:
            rows = await self.many(
                Q["jobs_retry_failed"],
                {"kind": kind, "queue": queue, "limit": batch_size, "after_id": after_id},
            )
            if not rows:
                return retried, conflicted
            after_id = rows[-1]["id"]
            done = sum(1 for r in rows if r["retried"])
            retried += done
            conflicted += len(rows) - done
            if on_progress is not None:
                on_progress(retried)

    async def jobs_discard_failed(
        self,
        *,
        kind: str | None,
        queue: str | None,
        batch_size: int,
        on_progress: ProgressCallback | None,
    ) -> int:
        discarded = 0
        after_id = 0
        while True:
            rows = await self.many(
                Q["jobs_discard_failed"],
                {"kind": kind, "queue": queue, "limit": batch_size, "after_id": after_id},
            )
            if not rows:
                return discarded
            after_id = max(r["id"] for r in rows)
            discarded += len(rows)
            if on_progress is not None:
                on_progress(discarded)

    async def queue_pause(self, queue: str, paused_by: str | None) -> None:
        await self.exec(Q["queue_pause"], {"queue": queue, "paused_by": paused_by})

    async def queue_resume(self, queue: str) -> None:
        await self.exec(Q["queue_resume"], {"queue": queue})

    async def queue_drain(
        self, queue: str, *, batch_size: int, on_progress: ProgressCallback | None
    ) -> int:
        drained = 0
        while True:
            rows = await self.many(Q["queue_drain"], {"queue": queue, "limit": batch_size})
            if not rows:
                return drained
            drained += len(rows)
            if on_progress is not None:
                on_progress(drained)

    async def queue_stats(self) -> list[DictRow]:
        return await self.many(Q["queue_stats"])

    async def queue_limit_set(self, queue: str, max_depth: int | None, policy: str) -> QueueDepth:
        row = await self.one(
            Q["queue_limit_set"], {"queue": queue, "max_depth": max_depth, "policy": policy}
        )
        return queue_depth_from_row(row, queue)

    async def queue_depth_get(self, queue: str) -> QueueDepth:
        return queue_depth_from_row(await self.one(Q["queue_depth_get"], {"queue": queue}), queue)

    # -- callbacks -------------------------------------------------------

    async def _callback(self, query: str, params: dict[str, Any]) -> Job:
        row = await self.one(Q[query], params)
        if row is None:
            raise CallbackNotFound(
                f"no job waits on callback {params['callback_id']}"
                " (unknown, already resolved, or stale after a rescue)"
            )
        return job_from_row(row)

    async def callback_complete(self, callback_id: uuid.UUID, payload: str | None) -> Job:
        """Spec: AwaCallback!Resolve"""
        return await self._callback(
            "callback_complete", {"callback_id": callback_id, "payload": payload}
        )

    async def callback_fail(self, callback_id: uuid.UUID, error: dict[str, Any]) -> Job:
        """Spec: AwaCallback!Resolve"""
        return await self._callback(
            "callback_fail", {"callback_id": callback_id, "error": json.dumps(error)}
        )

    async def callback_retry(self, callback_id: uuid.UUID) -> Job:
        """Spec: AwaCallback!Resolve"""
        return await self._callback("callback_retry", {"callback_id": callback_id})

    async def callback_resume(self, callback_id: uuid.UUID, payload: str) -> Job:
        """Hand the payload to a waiting handler, or requeue a parked job with it.

        Spec: AwaCallback!Resolve
        """
        params = {"callback_id": callback_id, "payload": payload}
        row = await self.one(Q["callback_resume_running"], params)
        if row is not None:
            return job_from_row(row)
        return await self._callback("callback_resume", params)

    async def callback_heartbeat(self, callback_id: uuid.UUID, timeout: float) -> Job:
        return await self._callback(
            "callback_heartbeat", {"callback_id": callback_id, "timeout": timeout}
        )

    async def callback_resolve(
        self, callback_id: uuid.UUID, payload: Any, payload_text: str, default_action: str
    ) -> ResolveResult:
        """Decide with the callback's CEL rules and apply it; run inside a transaction.

        The row is locked first, so two resolvers can't both act on it.

        Spec: AwaCallback!Resolve
        """
        row = await self.one(Q["callback_lock"], {"callback_id": callback_id})
        if row is None:
            raise CallbackNotFound(
                f"no job waits on callback {callback_id}"
                " (unknown, already resolved, or stale after a rescue)"
            )
        decision = decide(
            filter=row["callback_filter"],
            on_fail=row["callback_on_fail"],
            on_complete=row["callback_on_complete"],
            transform=row["callback_transform"],
            payload=payload,
            default_action=default_action,
        )
        for error in decision.errors:
            logger.warning("callback %s: CEL evaluation error: %s", callback_id, error)
        job: Job | None = None
        if decision.outcome == "completed":
            result = payload_text if decision.payload is payload else json.dumps(decision.payload)
            job = await self.callback_complete(callback_id, result)
        elif decision.outcome == "failed":
            entry: dict[str, Any] = {
                "attempt": row["attempt"],
                "type": "CallbackFailed",
                "message": f"callback failed: {decision.reason}",
                "terminal": True,
            }
            if decision.expression is not None:
                entry["expression"] = decision.expression
            job = await self.callback_fail(callback_id, entry)
        return ResolveResult(
            outcome=decision.outcome,
            job=job,
            payload=decision.payload,
            reason=decision.reason,
            errors=decision.errors,
        )

    async def jobs_get_many(self, ids: Sequence[int]) -> list[Job]:
        return [job_from_row(r) for r in await self.many(Q["jobs_get_many"], {"ids": list(ids)})]

    # -- cron ------------------------------------------------------------

    async def cron_upsert(self, job: PeriodicJob) -> None:
        await self.exec(Q["cron_upsert"], periodic_params(job))

    async def cron_list(self) -> list[CronJobInfo]:
        return [cron_info_from_row(r) for r in await self.many(Q["cron_list"])]

    async def cron_get(self, name: str) -> CronJobInfo:
        row = await self.one(Q["cron_get"], {"name": name})
        if row is None:
            raise CronNotFound(f"no periodic job named {name!r}")
        return cron_info_from_row(row)

    async def cron_set_paused(self, name: str, paused: bool, paused_by: str | None) -> CronJobInfo:
        """Pause or resume a schedule.

        Spec: AwaCron!Pause
        Spec: AwaCron!Resume
        """
        if paused:
            row = await self.one(Q["cron_pause"], {"name": name, "paused_by": paused_by})
        else:
            row = await self.one(Q["cron_resume"], {"name": name})
        if row is None:
            raise CronNotFound(f"no periodic job named {name!r}")
        return await self.cron_get(name)

    async def cron_trigger(self, name: str) -> Job:
        """Spec: AwaCron!ManualTrigger"""
        row = await self.one(Q["cron_trigger"], {"name": name})
        if row is None:
            raise CronNotFound(f"no periodic job named {name!r}")
        return job_from_row(row)

    async def cron_remove(self, name: str) -> bool:
        return await self.one(Q["cron_remove"], {"name": name}) is not None

    # -- operator views ----------------------------------------------------

    async def job_state_counts(self) -> dict[str, int]:
        return {r["state"]: r["n"] for r in await self.many(Q["job_state_counts"])}

    async def job_throughput(self, minutes: int) -> list[ThroughputBucket]:
        rows = await self.many(Q["job_throughput"], {"minutes": minutes})
        return [throughput_bucket_from_row(r) for r in rows]

    async def job_kinds(self) -> list[str]:
        return [r["kind"] for r in await self.many(Q["job_kinds"])]

    async def runtime_instance_list(self, stale_after: float) -> list[RuntimeInstance]:
        rows = await self.many(Q["runtime_instance_list"], {"stale_after": stale_after})
        return [runtime_instance_from_row(r) for r in rows]

    async def database_read_only(self) -> bool:
        row = await self.one(Q["database_read_only"])
        return bool(row and row["read_only"])
