"""What OpenTelemetry costs the worker: drain throughput with telemetry off
("off"), with the API only and no SDK ("api": the global no-op providers),
with the SDK recording metrics but no spans ("metrics"), and with the SDK
recording every metric and a span per job ("sdk").

    python -m benchmarks.otel_overhead --backend asyncio --jobs 10000 --repeats 3

Each run drains ``--jobs`` no-op jobs (inserted beforehand, inside a span in
the SDK mode so every job carries a traceparent) from a fresh database on the
server of ``$DATABASE_URL``. Modes alternate run by run, so drift on a shared
machine hits them alike; the median of each mode is compared with "off".
Throughput (wall clock) is noisy on a shared machine; this process's CPU
time per job is the steadier measure of what telemetry adds. One JSON line
per run, then one summary line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

import anyio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider

import awa
from awa import observability
from benchmarks.insert_throughput import drop_database, fresh_database

MODES = ("off", "api", "metrics", "sdk")


@dataclass
class Noop:
    n: int


async def drain(url: str, jobs: int, workers: int, mode: str) -> tuple[float, float]:
    """Seconds from start() until the last handler ran: wall clock, and this
    process's CPU time (all threads: the SDK's exporter thread counts too)."""
    tracer_provider: Any = None
    meter_provider: Any = None
    if mode in ("metrics", "sdk"):
        meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        tracer_provider = NoOpTracerProvider()
    if mode == "sdk":
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    observability.configure(
        meter_provider=meter_provider, tracer_provider=tracer_provider, enabled=mode != "off"
    )
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
        observability.configure()
        if meter_provider is not None:
            meter_provider.shutdown()
        if mode == "sdk":
            tracer_provider.shutdown()
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    admin_url = os.environ["DATABASE_URL"]
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpus: dict[str, list[float]] = {mode: [] for mode in MODES}
    for repeat in range(options.repeats):
        for mode in MODES:
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
