"""The job record as read from the database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, overload

import attrs

from awa._model.states import JobState, mask_to_states


@attrs.frozen(kw_only=True)
class Job:
    """One job, as stored. Timestamps are timezone-aware.

    ``args`` is the decoded JSON object (a dict) unless the job was handed to
    a handler, which sees its registered args type.
    """

    id: int
    kind: str
    queue: str
    args: Any
    state: JobState
    priority: int
    attempt: int
    max_attempts: int
    run_at: datetime
    created_at: datetime
    attempted_at: datetime | None = None
    heartbeat_at: datetime | None = None
    deadline_at: datetime | None = None
    finalized_at: datetime | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = attrs.field(factory=dict)
    errors: tuple[dict[str, Any], ...] = ()
    progress: dict[str, Any] | None = None
    run_lease: int = 0
    unique_key: bytes | None = None
    unique_states: frozenset[JobState] | None = None
    callback_id: uuid.UUID | None = None
    callback_timeout_at: datetime | None = None
    concurrency_key: str | None = None
    concurrency_limit: int | None = None

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal


def job_from_row(row: Mapping[str, Any]) -> Job:
    """Decode a row of ``awa.jobs`` (or any job table) into a ``Job``."""
    unique_states = row.get("unique_states")
    key = row.get("unique_key")
    return Job(
        id=row["id"],
        kind=row["kind"],
        queue=row["queue"],
        args=row["args"],
        state=JobState(row["state"]),
        priority=row["priority"],
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        run_at=row["run_at"],
        created_at=row["created_at"],
        attempted_at=row.get("attempted_at"),
        heartbeat_at=row.get("heartbeat_at"),
        deadline_at=row.get("deadline_at"),
        finalized_at=row.get("finalized_at"),
        tags=tuple(row.get("tags") or ()),
        metadata=row.get("metadata") or {},
        errors=tuple(row.get("errors") or ()),
        progress=row.get("progress"),
        run_lease=row.get("run_lease", 0),
        unique_key=bytes(key) if key is not None else None,
        unique_states=mask_to_states(unique_states) if unique_states else None,
        callback_id=row.get("callback_id"),
        callback_timeout_at=row.get("callback_timeout_at"),
        concurrency_key=row.get("concurrency_key"),
        concurrency_limit=row.get("concurrency_limit"),
    )


@attrs.frozen
class JobPage(Sequence[Job]):
    """One page of a job listing, newest first.

    Pass ``next_cursor`` as ``cursor=`` to get the next page; it is ``None``
    on the last page.
    """

    jobs: tuple[Job, ...]
    next_cursor: str | None

    @overload
    def __getitem__(self, index: int) -> Job: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Job]: ...
    def __getitem__(self, index: int | slice) -> Job | Sequence[Job]:
        return self.jobs[index]

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs)
