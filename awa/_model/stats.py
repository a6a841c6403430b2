"""Results of admin operations."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class QueueStat:
    """Counts for one queue. ``lag_seconds`` is the age of its oldest available job."""

    queue: str
    scheduled: int
    available: int
    running: int
    retryable: int
    waiting_external: int
    failed: int
    completed_last_hour: int
    lag_seconds: float
    paused: bool

    @property
    def total_queued(self) -> int:
        """Every job of the queue not yet finished, running ones included."""
        return (
            self.scheduled + self.available + self.running + self.retryable + self.waiting_external
        )


def queue_stat_from_row(row: Mapping[str, Any]) -> QueueStat:
    return QueueStat(**{f.name: row[f.name] for f in attrs.fields(QueueStat)})


@attrs.frozen
class RetryFailedResult:
    """``retried`` jobs went back to available; ``unique_conflicts`` stayed failed
    because another job now holds their unique key."""

    retried: int
    unique_conflicts: int


@attrs.frozen
class MigrationStatus:
    """The database's schema version against the versions this awa ships."""

    current: int
    latest: int
    pending: tuple[int, ...]

    @property
    def up_to_date(self) -> bool:
        return not self.pending and self.current == self.latest


@attrs.frozen(kw_only=True)
class QueueDepth:
    """A queue's last measured depth (jobs waiting to run) and its limit."""

    queue: str
    depth: int | None
    max_depth: int | None
    policy: str
    measured_at: Any


def queue_depth_from_row(row: Mapping[str, Any] | None, queue: str = "") -> QueueDepth:
    if row is None:
        return QueueDepth(
            queue=queue, depth=None, max_depth=None, policy="reject", measured_at=None
        )
    return QueueDepth(
        queue=row["queue"],
        depth=row["depth_estimate"],
        max_depth=row["max_depth"],
        policy=row["depth_policy"],
        measured_at=row["depth_measured_at"],
    )


@attrs.frozen(kw_only=True)
class ThroughputBucket:
    """Jobs finished in one minute (``minute`` is its start), by outcome."""

    minute: datetime
    completed: int
    failed: int
    cancelled: int

    @property
    def total(self) -> int:
        return self.completed + self.failed + self.cancelled


def throughput_bucket_from_row(row: Mapping[str, Any]) -> ThroughputBucket:
    return ThroughputBucket(**{f.name: row[f.name] for f in attrs.fields(ThroughputBucket)})


@attrs.frozen(kw_only=True)
class RuntimeInstance:
    """A worker process as it last described itself (``snapshot``: its queues,
    in-flight counts, state). ``live`` is false once it stopped publishing."""

    instance_id: uuid.UUID
    hostname: str
    pid: int
    version: str
    started_at: datetime
    last_seen_at: datetime
    leader: bool
    shutting_down: bool
    snapshot: dict[str, Any]
    live: bool


def runtime_instance_from_row(row: Mapping[str, Any]) -> RuntimeInstance:
    return RuntimeInstance(**{f.name: row[f.name] for f in attrs.fields(RuntimeInstance)})
