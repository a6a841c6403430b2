"""Results of admin operations."""

from __future__ import annotations

from collections.abc import Mapping
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
