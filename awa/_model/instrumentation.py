"""Producer-side observation points, filled in by ``awa.observability`` (no I/O).

``capture_trace()`` returns the caller's trace context as a carrier (W3C
``traceparent``, ``tracestate``); ``prepare_insert`` stores it in the new
job's metadata under ``awa:<key>``, so the worker can continue the trace.
``inserted()`` tells observers how many jobs of each (queue, kind) were
written. With no observability layer set (OpenTelemetry not installed, or
turned off) both cost one check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

TRACE_PREFIX = "awa:"

Capture = Callable[[], Mapping[str, str]]
InsertObserver = Callable[[Mapping[tuple[str, str], int]], None]

_capture: Capture | None = None
_insert_observers: list[InsertObserver] = []


def set_capture(capture: Capture | None) -> None:
    """Use ``capture`` to read the caller's trace context (``None``: don't)."""
    global _capture
    _capture = capture


def capture_trace() -> Mapping[str, str]:
    """The caller's trace context as carrier entries (empty when there is none)."""
    return {} if _capture is None else _capture()


def with_trace(metadata: Any, carrier: Mapping[str, str]) -> Any:
    """``metadata`` plus the carrier's entries as ``awa:<key>`` (keys already set win).

    Anything but a dict (or ``None``) is returned as it is, for validation to refuse.
    """
    if not carrier or not (metadata is None or isinstance(metadata, dict)):
        return metadata
    merged = dict(metadata or {})
    for key, value in carrier.items():
        merged.setdefault(TRACE_PREFIX + key, value)
    return merged


def add_insert_observer(observer: InsertObserver) -> None:
    if observer not in _insert_observers:
        _insert_observers.append(observer)


def remove_insert_observer(observer: InsertObserver) -> None:
    if observer in _insert_observers:
        _insert_observers.remove(observer)


def inserted(jobs: Iterable[tuple[str, str]]) -> None:
    """Jobs written, as (queue, kind) pairs (read only when someone observes)."""
    if not _insert_observers:
        return
    counts = Counter(jobs)
    for observer in _insert_observers:
        observer(counts)
