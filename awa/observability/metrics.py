"""OpenTelemetry metrics: instruments made from ``names.METRICS``, fed by
observing runtime signals (and the producer's insert observation point).

Nothing here runs on the hot path unless a runtime is attached: the runtime
emits its signals anyway, and the observer turns each into one or two
instrument calls. Counters are kept here, in a dict under a lock, and handed
to the SDK as observable counters when it collects (a dict increment costs
a fraction of an SDK ``add``); histograms are recorded as they happen.
``in_flight``, ``queue.depth`` and ``queue.lag`` are read at collection too.

The two per-job histograms (``awa.job.wait_duration`` and ``awa.job.duration``)
are most of the SDK's cost on short jobs, so they can be sampled: with
``job_histograms_every=N`` one job in every N is recorded (a fixed stride, so
the quantiles stay unbiased; the histograms' counts and sums are then 1/N of
the jobs', while the counters still count every job).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from awa.observability import names as n

if TYPE_CHECKING:
    from awa._runtime.supervisor import Runtime

# Outcome action (awa._runtime.outcome) -> counter and outcome attribute.
_ACTIONS = {
    "complete": ("awa.job.completed", "completed"),
    "retry": ("awa.job.retried", "retried"),
    "fail": ("awa.job.failed", "failed"),
    "cancel": ("awa.job.cancelled", "cancelled"),
    "snooze": ("awa.job.snoozed", "snoozed"),
    "park": ("awa.job.parked", "parked"),
    "hand_back": ("awa.job.handed_back", "handed_back"),
}


class _Stride:
    """Every ``every``-th of the values passed in, counted across calls."""

    __slots__ = ("every", "seen")

    def __init__(self, every: int) -> None:
        self.every = every
        self.seen = 0

    def take(self, values: list[Any]) -> list[Any]:
        start = -self.seen % self.every
        self.seen += len(values)
        return values[start :: self.every]

    def due(self) -> bool:
        """Whether one more value is taken (as ``take`` of one value would)."""
        seen = self.seen
        self.seen = seen + 1
        return seen % self.every == 0


class Metrics:
    """Every awa instrument on one meter; observes attached runtimes."""

    def __init__(self, meter: Meter, job_histograms_every: int = 1) -> None:
        self._every = job_histograms_every
        self._waits = _Stride(job_histograms_every)
        self._durations = _Stride(job_histograms_every)
        self._lock = threading.Lock()
        self._runtimes: list[Runtime] = []
        self._gauges: dict[int, list[dict[str, Any]]] = {}  # id(runtime) -> leader rows
        self._instruments: dict[str, Any] = {}
        self._totals: dict[str, dict[tuple[tuple[str, Any], ...], float]] = {}
        for spec in n.METRICS:
            self._instruments[spec.name] = self._create(meter, spec)
        # The per-job path: instruments looked up and attribute sets built once
        # (never mutated: the SDK copies what it keeps).
        self._wait = self._instruments["awa.job.wait_duration"]
        self._duration = self._instruments["awa.job.duration"]
        self._by_queue: dict[str, dict[str, Any]] = {}
        self._by_outcome: dict[
            tuple[str, str, str],
            tuple[dict[tuple[tuple[str, Any], ...], float], tuple[tuple[str, Any], ...], Any],
        ] = {}
        self._handlers: dict[str, Callable[[Runtime, dict[str, Any]], None]] = {
            "claim": self._on_claim,
            "job_finalized": self._on_finalized,
            "job_stale": self._on_stale,
            "job_rescued": self._on_rescued,
            "callback_timed_out": self._on_callback_timeout,
            "lease_lost": self._on_lease_lost,
            "rate_limited": self._on_rate_limited,
            "heartbeat": self._on_heartbeat,
            "flushed": self._on_flushed,
            "maintenance_pass": self._on_maintenance,
            "promoted": self._on_promoted,
            "cron_fired": self._on_cron_fired,
            "queue_gauges": self._on_queue_gauges,
        }

    def _create(self, meter: Meter, spec: n.MetricSpec) -> Any:
        if spec.instrument == "counter":
            self._totals[spec.name] = {}
            return meter.create_observable_counter(
                spec.name, [partial(self._observe_total, spec.name)], spec.unit, spec.description
            )
        if spec.instrument == "histogram":
            return meter.create_histogram(
                spec.name,
                spec.unit,
                spec.description,
                explicit_bucket_boundaries_advisory=spec.buckets,
            )
        callback = {
            "awa.job.in_flight": self._observe_in_flight,
            "awa.queue.depth": self._observe_depth,
            "awa.queue.lag": self._observe_lag,
        }[spec.name]
        if spec.instrument == "observable_updown_counter":
            return meter.create_observable_up_down_counter(
                spec.name, [callback], spec.unit, spec.description
            )
        return meter.create_observable_gauge(spec.name, [callback], spec.unit, spec.description)

    def _add(self, name: str, value: float, attributes: Mapping[str, Any] | None = None) -> None:
        key = tuple(attributes.items()) if attributes else ()
        totals = self._totals[name]
        with self._lock:
            totals[key] = totals.get(key, 0) + value

    def _observe_total(self, name: str, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            found = list(self._totals[name].items())
        return [Observation(value, dict(key)) for key, value in found]

    def _record(self, name: str, value: float, attributes: Mapping[str, Any] | None = None) -> None:
        self._instruments[name].record(value, attributes)

    # -- attaching -------------------------------------------------------

    def attach(self, runtime: Runtime) -> Callable[[], None]:
        with self._lock:
            self._runtimes.append(runtime)

        def observe(signal: str, data: dict[str, Any]) -> None:
            handler = self._handlers.get(signal)
            if handler is not None:
                handler(runtime, data)

        stop = runtime.signals.observe(observe)

        def detach() -> None:
            stop()
            with self._lock:
                if runtime in self._runtimes:
                    self._runtimes.remove(runtime)
                self._gauges.pop(id(runtime), None)

        return detach

    def inserted(self, counts: Mapping[tuple[str, str], int]) -> None:
        for (queue, kind), count in counts.items():
            self._add("awa.job.inserted", count, {n.QUEUE: queue, n.KIND: kind})

    # -- signal handlers -------------------------------------------------

    def _on_claim(self, _runtime: Runtime, data: dict[str, Any]) -> None:
        queue = self._queue_attributes(data["queue"])
        count = data["count"]
        if count:
            self._add("awa.job.claimed", count, queue)
        self._record("awa.dispatch.claim_batch_size", count, queue)
        self._record("awa.dispatch.claim_duration", data["duration"], queue)
        waits = data["waits"]
        if self._every > 1:
            waits = self._waits.take(waits)
        record = self._wait.record
        for seconds in waits:
            record(seconds if seconds > 0.0 else 0.0, queue)

    def _queue_attributes(self, queue: str) -> dict[str, Any]:
        found = self._by_queue.get(queue)
        if found is None:
            found = self._by_queue[queue] = {n.QUEUE: queue}
        return found

    def _on_finalized(self, _runtime: Runtime, data: dict[str, Any]) -> None:
        key = (data["queue"], data["kind"], data["action"])
        found = self._by_outcome.get(key)
        if found is None:
            counter, outcome = _ACTIONS[key[2]]
            job = {n.QUEUE: key[0], n.KIND: key[1]}
            found = (self._totals[counter], tuple(job.items()), {**job, n.OUTCOME: outcome})
            self._by_outcome[key] = found
        totals, total_key, attributes = found
        with self._lock:
            totals[total_key] = totals.get(total_key, 0) + 1
        if self._every > 1 and not self._durations.due():
            return
        self._duration.record(data["duration"], attributes)

    def _on_stale(self, _runtime: Runtime, data: dict[str, Any]) -> None:
        self._add("awa.job.stale", 1, {n.QUEUE: data["queue"], n.KIND: data["kind"]})

    def _on_rescued(self, _runtime: Runtime, data: dict[str, Any]) -> None:
        attributes = {
            n.QUEUE: data["queue"],
            n.KIND: data["kind"],
            n.RESCUE_REASON: data["reason"],
            n.STATE: data["state"],
        }
        self._add("awa.job.rescued", 1, attributes)

    def _on_callback_timeout(self, _runtime: Runtime, data: dict[str, Any]) -> None:
        attributes = {
            n.QUEUE: data["queue"],
            n.KIND: data["kind"],
            n.RESCUE_REASON: "callback_timeout",
            n.STATE: data["state"],
        }
        self._add("awa.job.rescued", 1, attributes)

    def _on_lease_lost(self, _runtime: Runtime, data: dict[str, Any]) -> None:
        self._add("awa.job.lease_lost", 1, {n.QUEUE: data["queue"]})

    def _on_rate_limited(self, _runtime: Runtime, data: dict[str, Any]) -> None:
        self._add("awa.dispatch.rate_limited", 1, {n.QUEUE: data["queue"]})

    def _on_heartbeat(self, _runtime: Runtime, data: dict[str, Any]) -> None:
        if data["batches"]:
            self._add("awa.heartbeat.batches", data["batches"])

    def _on_flushed(self, _runtime: Runtime, data: dict[str, Any]) -> None:
        self._record("awa.completion.flush_batch_size", data["size"])
        self._record("awa.completion.flush_duration", data["duration"])

    def _on_maintenance(self, _runtime: Runtime, data: dict[str, Any]) -> None:
        self._record("awa.maintenance.duration", data["duration"], {n.TASK: data["task"]})

    def _on_promoted(self, _runtime: Runtime, data: dict[str, Any]) -> None:
        self._add("awa.maintenance.promoted", data["count"])
        self._record("awa.maintenance.promotion_lateness", max(0.0, data["max_lateness"]))

    def _on_cron_fired(self, _runtime: Runtime, data: dict[str, Any]) -> None:
        self._add("awa.cron.fired", 1, {n.CRON_NAME: data["name"]})

    def _on_queue_gauges(self, runtime: Runtime, data: dict[str, Any]) -> None:
        with self._lock:
            if data["rows"] is None:
                self._gauges.pop(id(runtime), None)
            else:
                self._gauges[id(runtime)] = data["rows"]

    # -- observable callbacks (may run on the SDK's exporter thread) -----

    def _observe_in_flight(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            runtimes = list(self._runtimes)
        totals: dict[str, int] = {}
        for runtime in runtimes:
            counts = runtime.inflight.counts()
            for queue in runtime.config.queues:
                totals[queue.name] = totals.get(queue.name, 0) + counts.get(queue.name, 0)
        return [Observation(count, {n.QUEUE: queue}) for queue, count in totals.items()]

    def _leader_rows(self) -> list[dict[str, Any]]:
        with self._lock:
            published = list(self._gauges.values())
        # One leader per database; should a process hold two runtimes, the last wins.
        return published[-1] if published else []

    def _observe_depth(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(row["jobs"], {n.QUEUE: row["queue"], n.STATE: row["state"]})
            for row in self._leader_rows()
        ]

    def _observe_lag(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(row["lag_seconds"], {n.QUEUE: row["queue"]})
            for row in self._leader_rows()
            if row["state"] == "available"
        ]
