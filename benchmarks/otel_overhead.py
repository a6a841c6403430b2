"""What OpenTelemetry costs the worker: drain throughput with telemetry off
("off"), with the API only and no SDK ("api": the global no-op providers),
with the SDK recording metrics but no spans ("metrics"), and with the SDK
recording every metric and a span per job ("sdk": metrics + spans), with
the per-job histograms recorded for one job in ten and no spans
("metrics_sampled": ``job_histograms_every=10``), and with that and spans
sampled at 1 % ("sampled": a ``ParentBased(TraceIdRatioBased(0.01))``
sampler, the jobs inserted outside any span so each job's span is a root the
ratio decides).

The SDK is set up as in production: metrics go through a
``PeriodicExportingMetricReader`` (collecting every second, more often than
the usual 15-60 s, so collection is overcounted rather than hidden) and spans
through a ``BatchSpanProcessor`` (export on its own thread, the default
parent-based always-on sampler). The exporters discard what they are given:
the network's and the wire encoding's cost is the exporter's, not awa's.

    python -m benchmarks.otel_overhead --backend asyncio --jobs 10000 --repeats 3

Each run drains ``--jobs`` no-op jobs (inserted beforehand, inside a span in
the SDK mode so every job carries a traceparent, the same one: the worker
parses it once) from a fresh database on the
server of ``$DATABASE_URL``. Modes alternate run by run, the order rotated
each repeat, so drift on a shared machine hits them alike; the median of
each mode is compared with "off".
Throughput (wall clock) is noisy on a shared machine; this process's CPU
time per job is the steadier measure of what telemetry adds. Steadier still,
``hot_path`` times just the telemetry work one job causes (its share of a
claim, its span, its outcome, its share of a flush) in a loop, per mode, and
``sdk_floor`` times the SDK alone doing what awa asks of it per job (one
histogram record with one attribute, one with three, one consumer span with
seven attributes, child of a remote parent, made current, given one more
attribute, ended), so the hot path minus the floor is awa's own share. One
JSON line each for the hot path and the floor, one per run, then a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import anyio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NoOpTracerProvider

import awa
from awa import observability
from benchmarks.databases import drop_database, fresh_database

MODES = ("off", "api", "metrics", "sdk", "metrics_sampled", "sampled")
HISTOGRAMS_EVERY = 10
SPAN_RATIO = 0.01


@dataclass
class Noop:
    n: int


class Discard(SpanExporter):
    """An exporter that drops what it is given (the network's cost is not ours)."""

    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class DiscardMetrics(MetricExporter):
    """A metric exporter that drops what it is given."""

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def install(mode: str) -> tuple[Any, Any]:
    """Configure awa's telemetry for ``mode``; returns (meter, tracer) providers."""
    meter_provider: Any = None
    tracer_provider: Any = None
    if mode in ("metrics", "sdk", "metrics_sampled", "sampled"):
        reader = PeriodicExportingMetricReader(DiscardMetrics(), export_interval_millis=1000)
        meter_provider = MeterProvider(metric_readers=[reader])
        tracer_provider = NoOpTracerProvider()
    if mode == "sdk":
        tracer_provider = TracerProvider()
    if mode == "sampled":
        tracer_provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(SPAN_RATIO)))
    if isinstance(tracer_provider, TracerProvider):
        tracer_provider.add_span_processor(BatchSpanProcessor(Discard()))
    observability.configure(
        meter_provider=meter_provider,
        tracer_provider=tracer_provider,
        enabled=mode != "off",
        job_histograms_every=HISTOGRAMS_EVERY if mode.endswith("sampled") else 1,
    )
    return meter_provider, tracer_provider


def uninstall(meter_provider: Any, tracer_provider: Any) -> None:
    observability.configure()
    if meter_provider is not None:
        meter_provider.shutdown()
    if isinstance(tracer_provider, TracerProvider):
        tracer_provider.shutdown()


async def drain(url: str, jobs: int, workers: int, mode: str) -> tuple[float, float]:
    """Seconds from start() until the last handler ran: wall clock, and this
    process's CPU time (all threads: the SDK's exporter thread counts too)."""
    meter_provider, tracer_provider = install(mode)
    try:
        async with awa.AsyncClient(url, max_connections=12) as client:
            await client.migrate()
            left = jobs
            done = anyio.Event()

            @client.worker(Noop)
            async def handle(job: awa.JobContext) -> None:
                nonlocal left
                left -= 1
                if left == 0:
                    done.set()

            if mode == "sdk":
                with tracer_provider.get_tracer("bench").start_as_current_span("produce"):
                    await client.insert_many([Noop(i) for i in range(jobs)])
            else:
                await client.insert_many([Noop(i) for i in range(jobs)])
            started = time.perf_counter()
            cpu = time.process_time()
            client.start([("default", workers)], telemetry=mode != "off")
            await done.wait()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            await client.shutdown()
    finally:
        uninstall(meter_provider, tracer_provider)
    return elapsed, cpu


def _job(traced: bool = True) -> Any:
    from awa._model.job import Job
    from awa._model.states import JobState

    now = datetime.now(UTC)
    return Job(
        id=1,
        kind="noop",
        queue="default",
        args={},
        state=JobState.RUNNING,
        priority=2,
        attempt=1,
        max_attempts=25,
        run_lease=1,
        run_at=now,
        created_at=now,
        metadata=(
            {"awa:traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
            if traced
            else {}
        ),
        tags=(),
        errors=(),
    )


def hot_path(mode: str, jobs: int, batch: int = 20) -> float:
    """CPU microseconds of telemetry work per job (signals emitted, span, outcome)."""
    from awa._model.runtime_config import parse_runtime
    from awa._runtime.lease import InFlight
    from awa._runtime.outcome import COMPLETE, Outcome
    from awa._runtime.signals import Signals

    meter_provider, tracer_provider = install(mode)
    try:
        config = parse_runtime(["default"], {"telemetry": mode != "off"})
        telemetry = observability.runtime_telemetry(config)
        runtime: Any = SimpleNamespace(signals=Signals(), inflight=InFlight(), config=config)
        if telemetry is not None:
            telemetry.attach(runtime)
        job = _job(traced=mode != "sampled")
        spans = isinstance(tracer_provider, TracerProvider)
        outcome = Outcome(None, COMPLETE, job, "completed")  # type: ignore[arg-type]
        signals = runtime.signals
        waits = [0.001] * batch
        started = time.process_time()
        for i in range(jobs):
            if i % batch == 0:
                if signals.observed:
                    signals.emit("claim", queue="default", count=batch, duration=0.001, waits=waits)
                signals.emit("claimed", queue="default", count=batch)
            signals.emit("job_started", id=i, lease=1, kind="noop", queue="default")
            if telemetry is not None:
                with telemetry.job_span(job, "default") as span:
                    span.outcome(outcome, None)
            signals.emit(
                "job_finalized",
                id=i,
                lease=1,
                action=COMPLETE,
                kind="noop",
                queue="default",
                duration=0.0001,
            )
            if i % batch == 0:
                signals.emit("flushed", size=batch, duration=0.001)
            if spans and i % 1000 == 999:
                tracer_provider.force_flush()  # export, not drop: a loop outruns the queue
        return (time.process_time() - started) / jobs * 1e6
    finally:
        uninstall(meter_provider, tracer_provider)


def sdk_floor(count: int) -> dict[str, float]:
    """CPU microseconds the SDK alone takes per call, set up as in ``install("sdk")``."""
    from opentelemetry import context as context_api
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    from awa.observability.tracing import producer_context

    meter_provider, tracer_provider = install("sdk")
    try:
        histogram = meter_provider.get_meter("floor").create_histogram("floor")
        tracer = tracer_provider.get_tracer("floor")
        parent = producer_context(_job().metadata)
        one = {"awa.queue": "default"}
        three = {"awa.queue": "default", "awa.job.kind": "noop", "awa.job.outcome": "completed"}
        found: dict[str, float] = {}
        for name, attributes in (("record_1_attr_us", one), ("record_3_attrs_us", three)):
            started = time.process_time()
            for _ in range(count):
                histogram.record(0.001, attributes)
            found[name] = (time.process_time() - started) / count * 1e6
        started = time.process_time()
        for i in range(count):
            span = tracer.start_span(
                "job.execute noop",
                context=parent,
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "awa",
                    "messaging.destination.name": "default",
                    "messaging.operation.type": "process",
                    "messaging.operation.name": "process",
                    "messaging.message.id": str(i),
                    "awa.job.kind": "noop",
                    "awa.job.attempt": 1,
                },
            )
            token = context_api.attach(trace.set_span_in_context(span))
            span.set_attribute("awa.job.outcome", "completed")
            context_api.detach(token)
            span.end()
            if i % 1000 == 999:
                tracer_provider.force_flush()
        found["span_us"] = (time.process_time() - started) / count * 1e6
        return {name: round(value, 2) for name, value in found.items()}
    finally:
        uninstall(meter_provider, tracer_provider)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hot-path-jobs", type=int, default=50_000)
    options = parser.parse_args()
    costs = {mode: hot_path(mode, options.hot_path_jobs) for mode in MODES}
    hot = {f"{mode}_us_per_job": round(costs[mode], 2) for mode in MODES}
    print(json.dumps({"scenario": "otel_hot_path", **hot}), flush=True)
    floor = sdk_floor(options.hot_path_jobs)
    print(json.dumps({"scenario": "otel_sdk_floor", **floor}), flush=True)
    admin_url = os.environ["DATABASE_URL"]
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpus: dict[str, list[float]] = {mode: [] for mode in MODES}
    for repeat in range(options.repeats):
        shift = repeat % len(MODES)  # each mode takes each place in the order in turn
        for mode in MODES[shift:] + MODES[:shift]:
            name, url = fresh_database(admin_url)
            try:
                elapsed, cpu = anyio.run(
                    drain, url, options.jobs, options.workers, mode, backend=options.backend
                )
            finally:
                drop_database(admin_url, name)
            rate = options.jobs / elapsed
            rates[mode].append(rate)
            cpus[mode].append(cpu / options.jobs * 1e6)
            line = {
                "run": repeat,
                "mode": mode,
                "backend": options.backend,
                "jobs_per_s": round(rate),
                "cpu_us_per_job": round(cpus[mode][-1], 1),
            }
            print(json.dumps(line), flush=True)
    off = statistics.median(rates["off"])
    off_cpu = statistics.median(cpus["off"])
    summary: dict[str, object] = {
        "scenario": "otel_overhead",
        "backend": options.backend,
        "jobs": options.jobs,
        "workers": options.workers,
        "repeats": options.repeats,
    }
    for mode in MODES:
        if mode != "off":
            summary[f"{mode}_hot_path_us_per_job"] = round(costs[mode] - costs["off"], 2)
        median = statistics.median(rates[mode])
        cpu = statistics.median(cpus[mode])
        summary[f"{mode}_jobs_per_s"] = round(median)
        summary[f"{mode}_cpu_us_per_job"] = round(cpu, 1)
        if mode != "off":
            summary[f"{mode}_wall_overhead_pct"] = round((off / median - 1) * 100, 1)
            summary[f"{mode}_cpu_overhead_pct"] = round((cpu / off_cpu - 1) * 100, 1)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
