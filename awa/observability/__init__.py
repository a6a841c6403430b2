"""Observability: OpenTelemetry metrics and trace propagation, health endpoints.

awa depends on the OpenTelemetry *API* only (``pip install 'awa-pg[otel]'``);
the SDK, exporters and providers are the application's choice. When the API
is importable, awa records into the global meter and tracer providers (which
do nothing until an SDK is installed); without it, nothing is recorded and
nothing costs. ``configure()`` picks other providers (tests do) or turns
telemetry off; the ``telemetry=False`` worker option turns it off for one
runtime. See docs/observability.md for every metric.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from awa._model import instrumentation
from awa._model.job import Job
from awa._model.runtime_config import RuntimeConfig, count
from awa.observability.names import METRICS, MetricSpec

if TYPE_CHECKING:
    from awa._runtime.supervisor import Runtime
    from awa._runtime.telemetry import JobSpan
    from awa.observability.metrics import Metrics
    from awa.observability.tracing import Tracing

__all__ = ("METRICS", "MetricSpec", "available", "configure")

METER_NAME = "awa"
TRACER_NAME = "awa"


def available() -> bool:
    """Whether the OpenTelemetry API is importable."""
    try:
        return (
            importlib.util.find_spec("opentelemetry.metrics") is not None
            and importlib.util.find_spec("opentelemetry.propagate") is not None
        )
    except (ImportError, ValueError):  # no "opentelemetry" package at all
        return False


class _State:
    enabled: bool = True
    job_histograms_every: int = 1
    meter_provider: Any = None
    tracer_provider: Any = None
    metrics: Metrics | None = None
    tracing: Tracing | None = None


_state = _State()


def _instruments() -> tuple[Metrics, Tracing]:
    if _state.metrics is None or _state.tracing is None:
        from opentelemetry import metrics, trace

        from awa._version import __version__
        from awa.observability.metrics import Metrics
        from awa.observability.tracing import Tracing

        meter = metrics.get_meter(METER_NAME, __version__, _state.meter_provider)
        tracer = trace.get_tracer(TRACER_NAME, __version__, _state.tracer_provider)
        _state.metrics = Metrics(meter, _state.job_histograms_every)
        _state.tracing = Tracing(tracer, _state.tracer_provider)
    return _state.metrics, _state.tracing


def _capture() -> Mapping[str, str]:
    from awa.observability.tracing import capture

    return capture()


def _on_inserted(counts: Mapping[tuple[str, str], int]) -> None:
    _instruments()[0].inserted(counts)


def configure(
    *,
    meter_provider: Any = None,
    tracer_provider: Any = None,
    enabled: bool = True,
    job_histograms_every: int = 1,
) -> None:
    """Record into these providers (``None``: the global ones), or not at all.

    ``job_histograms_every=N`` records ``awa.job.duration`` and
    ``awa.job.wait_duration`` for one job in every N (counters still count
    every job): the per-job histograms are most of the SDK's cost on short
    jobs. Applies to inserts from now on and to runtimes started from now on.
    """
    flag: object = enabled
    if not isinstance(flag, bool):
        from awa.errors import ConfigError

        raise ConfigError("enabled: expected a bool", field="enabled")
    count(job_histograms_every, "job_histograms_every")
    _state.enabled = enabled and available()
    _state.job_histograms_every = job_histograms_every
    _state.meter_provider = meter_provider
    _state.tracer_provider = tracer_provider
    _state.metrics = _state.tracing = None
    if _state.enabled:
        instrumentation.set_capture(_capture)
        instrumentation.add_insert_observer(_on_inserted)
    else:
        instrumentation.set_capture(None)
        instrumentation.remove_insert_observer(_on_inserted)


class _RuntimeTelemetry:
    """What one runtime gets: metrics observing it, spans around its handlers."""

    def __init__(self, metrics: Metrics, tracing: Tracing, gauge_interval: float) -> None:
        self.metrics = metrics
        self.tracing = tracing
        self._gauge_interval = gauge_interval

    @property
    def gauge_interval(self) -> float | None:
        return self._gauge_interval

    def attach(self, runtime: Runtime) -> Callable[[], None]:
        return self.metrics.attach(runtime)

    def job_span(self, job: Job, queue: str) -> AbstractContextManager[JobSpan]:
        return self.tracing.job_span(job, queue)


def runtime_telemetry(config: RuntimeConfig) -> _RuntimeTelemetry | None:
    """The telemetry for a runtime started with ``config`` (``None``: off)."""
    if not (config.telemetry and _state.enabled):
        return None
    metrics, tracing = _instruments()
    return _RuntimeTelemetry(metrics, tracing, config.queue_metrics_interval)


configure()
