"""What the runtime asks of an observability layer (``awa.observability`` gives one).

The runtime knows nothing of OpenTelemetry. The layer watches the runtime's
signals, reads its in-flight attempts when metrics are collected, and wraps
each attempt's handler in a span; the leader runs the queue-gauge query only
when a layer asks for it (``gauge_interval``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from awa._model.job import Job
from awa._runtime.outcome import Outcome

if TYPE_CHECKING:
    from awa._runtime.supervisor import Runtime


class JobSpan(Protocol):
    def outcome(self, outcome: Outcome | None, error: BaseException | None) -> None:
        """The attempt's result (``None``: nothing to write, e.g. a lost lease)."""


class RuntimeTelemetry(Protocol):
    @property
    def gauge_interval(self) -> float | None:
        """Seconds between the leader's queue-gauge reads (``None``: don't)."""

    def attach(self, runtime: Runtime) -> Callable[[], None]:
        """Start observing ``runtime``; returns the function that stops it."""

    def job_span(self, job: Job, queue: str) -> AbstractContextManager[JobSpan]:
        """The context the attempt's handler runs in (a consumer span)."""
