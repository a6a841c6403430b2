"""The scenarios every library runs, measured the same way.

This module is copied into no package: each adapter script sits beside it and
imports it, and runs in its library's own virtual environment, which has only
that library, anyio and psycopg. An adapter implements ``Adapter`` (below) and
calls ``main(AdapterClass)``; the orchestrator (``benchmarks.compare``) runs it
once per scenario against a fresh database and reads the JSON lines it prints.

Handlers are no-ops that report to this module: ``handled(n)`` at the start
of job ``n``, and ``await finish(n)`` before returning (which blocks while the
memory scenario holds jobs in flight).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import anyio
import psycopg

SCENARIOS = (
    "single_insert",
    "batch_insert",
    "drain",
    "pickup",
    "steady",
    "idle",
    "memory",
    "producers",
)


class Adapter(Protocol):
    """What the harness needs from a library; ``url`` is its fresh database."""

    library: str
    version: str
    settings: dict[str, Any]
    #: SQL counting jobs not yet finished (claimable or running).
    pending_sql: str

    async def setup(self) -> None: ...
    async def close(self) -> None: ...
    async def insert_one(self, n: int) -> None: ...
    async def insert_batch(self, ns: list[int]) -> None: ...
    def producer(self) -> AbstractAsyncContextManager[Any]:
        """An object with ``insert_batch`` on its own connection(s)."""
        ...

    def worker(self, concurrency: int) -> AbstractAsyncContextManager[None]:
        """Run a worker with ``concurrency`` slots until the block exits."""
        ...


# -- what handlers report -------------------------------------------------------

_started: dict[int, float] = {}
_finished: dict[int, float] = {}
_count = 0
_target = 0
_all_started: anyio.Event | None = None
_release: anyio.Event | None = None
_watch: dict[int, anyio.Event] = {}


def handled(n: int) -> None:
    """Call first thing in the handler of job ``n``."""
    global _count
    now = time.perf_counter()
    _started[n] = now
    _count += 1
    event = _watch.pop(n, None)
    if event is not None:
        event.set()
    if _all_started is not None and _count >= _target:
        _all_started.set()


async def finish(n: int) -> None:
    """Await last thing in the handler of job ``n``."""
    if _release is not None:
        await _release.wait()
    _finished[n] = time.perf_counter()


def _reset(target: int = 0) -> None:
    global _count, _target, _all_started
    _started.clear()
    _finished.clear()
    _watch.clear()
    _count = 0
    _target = target
    _all_started = anyio.Event() if target else None


# -- measurement helpers --------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Db:
    """A side connection for counting: to the admin database, so the
    measuring queries never count as the library's transactions."""

    def __init__(self, url: str, admin_url: str) -> None:
        self.url = url
        self.admin_url = admin_url
        self.dbname = psycopg.conninfo.conninfo_to_dict(url)["dbname"]

    def _pending(self, sql: str) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(sql).fetchone()  # type: ignore[arg-type]
        return int(row[0]) if row else 0

    async def pending(self, sql: str) -> int:
        return await anyio.to_thread.run_sync(self._pending, sql)

    def _xacts(self) -> int:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                (self.dbname,),
            ).fetchone()
        return int(row[0]) if row else 0

    async def xacts(self) -> int:
        return await anyio.to_thread.run_sync(self._xacts)

    async def wait_drained(self, sql: str, timeout: float) -> None:
        with anyio.fail_after(timeout):
            while await self.pending(sql):
                await anyio.sleep(0.02)


async def insert_chunked(adapter: Any, ns: list[int], chunk: int = 10_000) -> None:
    for first in range(0, len(ns), chunk):
        await adapter.insert_batch(ns[first : first + chunk])


# -- scenarios ------------------------------------------------------------------


async def single_insert(a: Adapter, db: Db, size: int) -> dict[str, Any]:
    started = time.perf_counter()
    for n in range(size):
        await a.insert_one(n)
    elapsed = time.perf_counter() - started
    return {"jobs": size, "seconds": round(elapsed, 3), "jobs_per_s": round(size / elapsed)}


async def batch_insert(a: Adapter, db: Db, size: int) -> dict[str, Any]:
    ns = list(range(size))
    started = time.perf_counter()
    await a.insert_batch(ns)
    elapsed = time.perf_counter() - started
    return {"jobs": size, "seconds": round(elapsed, 3), "jobs_per_s": round(size / elapsed)}


async def drain(a: Adapter, db: Db, size: int, concurrency: int = 20) -> dict[str, Any]:
    await insert_chunked(a, list(range(size)))
    _reset(size)
    assert _all_started is not None
    started = time.perf_counter()
    async with a.worker(concurrency):
        with anyio.fail_after(max(120, size / 50)):
            await _all_started.wait()
        handled_s = time.perf_counter() - started
        await db.wait_drained(a.pending_sql, 120)
        finalized_s = time.perf_counter() - started
    return {
        "jobs": size,
        "concurrency": concurrency,
        "jobs_per_s": round(size / finalized_s),
        "handled_per_s": round(size / handled_s),
        "seconds": round(finalized_s, 3),
    }


async def pickup(a: Adapter, db: Db, samples: int) -> dict[str, Any]:
    _reset()
    latencies: list[float] = []
    async with a.worker(20):
        await anyio.sleep(1.0)  # settle: listeners up, first polls done
        for n in range(samples):
            seen = _watch[n] = anyio.Event()
            before = time.perf_counter()
            await a.insert_one(n)
            with anyio.fail_after(30):
                await seen.wait()
            latencies.append((_started[n] - before) * 1000)
            await anyio.sleep(0.01)  # idle between samples
    return {
        "samples": samples,
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


async def steady(a: Adapter, db: Db, rate: int, seconds: int) -> dict[str, Any]:
    """Offer ``rate`` jobs/s in 20 ticks a second; latency is from just before
    the insert call to the handler's return."""
    _reset()
    tick = 0.05
    per_tick = max(1, round(rate * tick))
    inserted: dict[int, float] = {}
    total = 0
    async with a.producer() as producer, a.worker(50):
        await anyio.sleep(1.0)
        begin = time.perf_counter()
        ticks = round(seconds / tick)
        for i in range(ticks):
            due = begin + i * tick
            delay = due - time.perf_counter()
            if delay > 0:
                await anyio.sleep(delay)
            ns = list(range(total, total + per_tick))
            now = time.perf_counter()
            for n in ns:
                inserted[n] = now
            await producer.insert_batch(ns)
            total += per_tick
        offered_s = time.perf_counter() - begin
        with anyio.move_on_after(30):
            while len(_finished) < total:
                await anyio.sleep(0.05)
    done = [(_finished[n] - inserted[n]) * 1000 for n in inserted if n in _finished]
    return {
        "offered_per_s": rate,
        "seconds": seconds,
        "achieved_offer_per_s": round(total / offered_s),
        "completed": len(done),
        "jobs": total,
        "p50_ms": round(statistics.median(done), 1) if done else None,
        "p99_ms": round(percentile(done, 99), 1) if done else None,
    }


async def idle(a: Adapter, db: Db, seconds: int) -> dict[str, Any]:
    _reset()
    async with a.worker(20):
        # Past start-up work, and past PostgreSQL's delayed flush of an idle
        # backend's statistics (up to 10 s in PostgreSQL 15+): otherwise the
        # start-up transactions land in the window.
        await anyio.sleep(12.0)
        cpu0, xact0, t0 = cpu_seconds(), await db.xacts(), time.perf_counter()
        await anyio.sleep(seconds)
        cpu1, xact1, t1 = cpu_seconds(), await db.xacts(), time.perf_counter()
        rss = rss_mb()
    wall = t1 - t0
    return {
        "seconds": seconds,
        "cpu_percent": round(100 * (cpu1 - cpu0) / wall, 2),
        "db_xacts_per_s": round((xact1 - xact0) / wall, 2),
        "idle_rss_mb": round(rss, 1),
    }


async def memory(a: Adapter, db: Db, inflight: int) -> dict[str, Any]:
    global _release
    _reset(inflight)
    _release = anyio.Event()
    assert _all_started is not None
    reached = False
    try:
        async with a.worker(inflight):
            await anyio.sleep(2.0)
            idle_rss = rss_mb()
            await insert_chunked(a, list(range(inflight)))
            with anyio.move_on_after(max(60, inflight / 100)):
                await _all_started.wait()
                reached = True
            await anyio.sleep(0.5)
            busy_rss = rss_mb()
            running = _count
            _release.set()
            with anyio.move_on_after(120):
                await db.wait_drained(a.pending_sql, 120)
    finally:
        _release.set()
        _release = None
    return {
        "inflight_target": inflight,
        "inflight_reached": running,
        "all_reached": reached,
        "idle_rss_mb": round(idle_rss, 1),
        "inflight_rss_mb": round(busy_rss, 1),
        "kb_per_job": round((busy_rss - idle_rss) * 1024 / max(1, running), 2),
    }


async def producers(a: Adapter, db: Db, size: int, count: int = 4) -> dict[str, Any]:
    per = size // count
    chunk = 1000

    async def produce(index: int) -> None:
        async with a.producer() as p:
            base = index * per
            for first in range(0, per, chunk):
                await p.insert_batch(list(range(base + first, base + min(per, first + chunk))))

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(count):
            tg.start_soon(produce, i)
    elapsed = time.perf_counter() - started
    return {
        "producers": count,
        "chunk": chunk,
        "jobs": per * count,
        "seconds": round(elapsed, 3),
        "jobs_per_s": round(per * count / elapsed),
    }


async def _run(adapter_cls: Any, args: argparse.Namespace) -> dict[str, Any]:
    adapter = adapter_cls(args.url)
    db = Db(args.url, args.admin_url)
    await adapter.setup()
    try:
        s = args.scenario
        if s == "single_insert":
            result = await single_insert(adapter, db, args.size)
        elif s == "batch_insert":
            result = await batch_insert(adapter, db, args.size)
        elif s == "drain":
            result = await drain(adapter, db, args.size)
        elif s == "pickup":
            result = await pickup(adapter, db, args.size)
        elif s == "steady":
            result = await steady(adapter, db, args.rate, args.seconds)
        elif s == "idle":
            result = await idle(adapter, db, args.seconds)
        elif s == "memory":
            result = await memory(adapter, db, args.size)
        elif s == "producers":
            result = await producers(adapter, db, args.size)
        else:
            raise SystemExit(f"unknown scenario {s!r}")
    finally:
        await adapter.close()
    return {
        "library": adapter.library,
        "version": adapter.version,
        "scenario": args.scenario,
        "settings": adapter.settings,
        **result,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", required=True, choices=SCENARIOS)
    parser.add_argument("--url", required=True)
    parser.add_argument("--admin-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    return parser.parse_args(argv)


def main(adapter_cls: Any, backends: tuple[str, ...] = ("asyncio",)) -> None:
    args = parse()
    if args.backend not in backends:
        raise SystemExit(f"{adapter_cls.__name__} runs on {backends}, not {args.backend}")
    adapter_cls.backend = args.backend
    result = anyio.run(_run, adapter_cls, args, backend=args.backend)
    print(json.dumps(result), flush=True)
    sys.stdout.flush()
