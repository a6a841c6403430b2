"""The soak: steady offered load on three worker processes for N minutes,
with one fault a minute; reports throughput, p99 end-to-end latency, dead
tuples and each worker's RSS over time, then checks nothing was lost or
duplicated.

    python -m tests.chaos.soak --minutes 10 --rate 100 --out soak.json

It starts its own PostgreSQL (see private_pg.py), so restarts harm nobody.
Not part of the test run (``tests/chaos/test_soak.py`` runs it briefly when
``AWA_SOAK_MINUTES`` is set).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

import awa
from tests.chaos.harness import FAST, RECORDS, Db, Worker, terminate_backends, wait_until
from tests.chaos.jobs import Work
from tests.chaos.private_pg import PrivatePostgres, find_bin_dir

WORKERS_PER_PROCESS = 16
POOL = 8
SAMPLE_EVERY = 10.0


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class Producer(threading.Thread):
    """Offers ``rate`` jobs a second, in batches every 0.1 s, whatever happens."""

    def __init__(self, url: str, rate: float, rng: random.Random) -> None:
        super().__init__(daemon=True, name="soak-producer")
        self.url = url
        self.rate = rate
        self.rng = rng
        self.stop = threading.Event()
        self.inserted = 0
        self.failed_batches = 0
        self._n = itertools.count()

    def _batch(self, size: int) -> list[Work]:
        jobs = []
        for _ in range(size):
            roll = self.rng.random()
            mode = (
                "retry"
                if roll < 0.03
                else "snooze"
                if roll < 0.06
                else "fail"
                if roll < 0.07
                else "ok"
            )
            jobs.append(Work(next(self._n), mode, round(self.rng.uniform(0.0, 0.02), 3)))
        return jobs

    def run(self) -> None:
        owed = 0.0
        tick = time.monotonic()
        with awa.Client(self.url, max_connections=2) as client:
            while not self.stop.is_set():
                owed += self.rate * 0.1
                size = int(owed)
                owed -= size
                if size:
                    tag = f"soak-{next(self._n)}"
                    try:
                        client.insert_many(self._batch(size), queue="chaos", tags=[tag])
                        self.inserted += size
                    except awa.DatabaseError:
                        # A fault: was the batch committed? Ask once it's over.
                        self.failed_batches += 1
                tick += 0.1
                self.stop.wait(max(0.0, tick - time.monotonic()))


class Soak:
    def __init__(self, pg: PrivatePostgres, url: str, args: argparse.Namespace) -> None:
        self.pg = pg
        self.url = url
        self.args = args
        self.db = Db(url)
        self.rng = random.Random(args.seed)
        self.workers: list[Worker] = []
        self.live: list[Worker] = []
        self.faults: list[dict[str, Any]] = []
        self.samples: list[dict[str, Any]] = []

    def spawn(self, backend: str) -> Worker:
        worker = Worker(
            self.url,
            "--queue",
            f"chaos:{WORKERS_PER_PROCESS}",
            *FAST,
            backend=backend,
            env={"CHAOS_POOL": str(POOL)},
        )
        worker.ready()
        self.workers.append(worker)
        self.live.append(worker)
        return worker

    # -- faults (never the first two workers, asyncio and trio: their memory
    # is the long-run figure; the third, and its replacements, take the hits)

    def _busy_victim(self) -> Worker:
        return self.live[-1]

    def fault_sigkill(self) -> None:
        victim = self._busy_victim()
        victim.send_signal(signal.SIGKILL)
        victim.proc.wait(30)
        self.live.remove(victim)
        self.spawn(victim.backend)

    def fault_sigstop(self) -> None:
        victim = self._busy_victim()
        victim.send_signal(signal.SIGSTOP)
        time.sleep(5.0)  # past the 2 s heartbeat staleness: its jobs get rescued
        victim.send_signal(signal.SIGCONT)

    def fault_terminate(self, role: str) -> Callable[[], None]:
        return lambda: self._note_terminated(terminate_backends(self.db, role))

    def _note_terminated(self, n: int) -> None:
        self.faults[-1]["connections"] = n

    def fault_restart(self) -> None:
        self.pg.restart()

    def fault_hogs(self) -> None:
        with awa.Client(self.url, max_connections=1) as client:
            client.insert_many(
                [Work(-1, "hog", 1.0) for _ in range(len(self.live) * WORKERS_PER_PROCESS)],
                queue="chaos",
            )

    def faults_cycle(self) -> list[tuple[str, Callable[[], None]]]:
        return [
            ("sigkill", self.fault_sigkill),
            ("terminate:awa-listener", self.fault_terminate("awa-listener")),
            ("sigstop", self.fault_sigstop),
            ("terminate:awa", self.fault_terminate("awa")),
            ("postgres_restart", self.fault_restart),
            ("pool_exhaustion", self.fault_hogs),
            ("terminate:awa-leader", self.fault_terminate("awa-leader")),
        ]

    # -- measurements

    def sample(self, start: float, last: dict[str, Any] | None) -> dict[str, Any]:
        now = time.monotonic()
        row = self.db.one(
            "SELECT (SELECT count(*) FROM awa.jobs_terminal) AS finished,"
            " (SELECT count(*) FROM awa.jobs_hot) AS hot,"
            " (SELECT count(*) FROM awa.scheduled_jobs) AS scheduled,"
            " (SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables"
            "   WHERE schemaname = 'awa') AS dead_tuples,"
            " (SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables"
            "   WHERE schemaname = 'awa' AND relname = 'jobs_hot') AS dead_hot,"
            " (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM"
            "   finalized_at - created_at)) FROM awa.jobs_terminal"
            "   WHERE finalized_at > now() - make_interval(secs => %s)"
            "   AND state = 'completed' AND attempt = 1 AND args ->> 'mode' = 'ok') AS p99,"
            " (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM"
            "   finalized_at - created_at)) FROM awa.jobs_terminal"
            "   WHERE finalized_at > now() - make_interval(secs => %s)"
            "   AND state = 'completed' AND attempt = 1 AND args ->> 'mode' = 'ok') AS p50",
            (SAMPLE_EVERY, SAMPLE_EVERY),
        )
        finished = int(row["finished"])
        rate = None
        if last is not None:
            rate = round((finished - last["finished"]) / (now - last["_at"]), 1)
        sample = {
            "t": round(now - start, 1),
            "finished": finished,
            "jobs_per_s": rate,
            "p50_s": None if row["p50"] is None else round(float(row["p50"]), 3),
            "p99_s": None if row["p99"] is None else round(float(row["p99"]), 3),
            "backlog": int(row["hot"]) + int(row["scheduled"]),
            "dead_tuples": int(row["dead_tuples"]),
            "dead_tuples_jobs_hot": int(row["dead_hot"]),
            "rss_kib": {str(w.pid): rss_kib(w.pid) for w in self.live},
            "_at": now,
        }
        return sample

    def run(self) -> dict[str, Any]:
        for backend in ("asyncio", "trio", "asyncio"):
            self.spawn(backend)
        producer = Producer(self.url, self.args.rate, self.rng)
        producer.start()
        start = time.monotonic()
        end = start + self.args.minutes * 60
        cycle = itertools.cycle(self.faults_cycle())
        next_fault = start + 30.0  # the first fault after half a minute, then one a minute
        next_sample = start
        last: dict[str, Any] | None = None
        try:
            while time.monotonic() < end:
                now = time.monotonic()
                if now >= next_sample:
                    last = self.sample(start, last)
                    self.samples.append(last)
                    print(json.dumps({k: v for k, v in last.items() if k != "_at"}), flush=True)
                    next_sample += SAMPLE_EVERY
                if now >= next_fault and now < end - 20:
                    name, inject = next(cycle)
                    self.faults.append({"t": round(now - start, 1), "kind": name})
                    inject()
                    print(json.dumps({"fault": self.faults[-1]}), flush=True)
                    next_fault += 60.0
                time.sleep(0.2)
        finally:
            producer.stop.set()
            producer.join(30)
        settle = wait_until(
            "every job finished",
            lambda: (
                self.db.one(
                    "SELECT (SELECT count(*) FROM awa.jobs_hot) + (SELECT count(*) FROM"
                    " awa.scheduled_jobs) AS n"
                )["n"]
                == 0
            ),
            timeout=300,
            interval=0.5,
        )
        final = self.sample(start, last)
        exits = {w.pid: w.stop() for w in self.live}
        return self.report(producer, final, settle, exits)

    def report(
        self, producer: Producer, final: dict[str, Any], settle: float, exits: dict[int, int]
    ) -> dict[str, Any]:
        totals = self.db.one(
            "SELECT count(*) AS jobs,"
            " count(*) FILTER (WHERE state = 'completed') AS completed,"
            " count(*) FILTER (WHERE state = 'failed') AS failed,"
            " count(*) FILTER (WHERE state NOT IN ('completed', 'failed', 'cancelled')) AS open"
            " FROM awa.jobs"
        )
        effects = self.db.one("SELECT count(*) AS n, count(DISTINCT job_id) AS jobs FROM effects")
        wrong = self.db.one(
            "SELECT count(*) AS n FROM awa.jobs AS j WHERE j.state = 'completed'"
            " AND NOT EXISTS (SELECT 1 FROM effects e WHERE e.job_id = j.id"
            "  AND e.lease = j.run_lease)"
        )
        long_lived = {}
        for worker in self.workers[:2]:
            rss = [s["rss_kib"].get(str(worker.pid)) for s in self.samples]
            rss = [r for r in rss if r is not None]
            long_lived[worker.backend] = {
                "start": rss[0] if rss else None,
                "after_1_min": rss[min(len(rss) - 1, 6)] if rss else None,
                "end": rss[-1] if rss else None,
                "max": max(rss) if rss else None,
            }
        rates = [s["jobs_per_s"] for s in self.samples if s["jobs_per_s"] is not None]
        p99s = [s["p99_s"] for s in self.samples if s["p99_s"] is not None]
        return {
            "minutes": self.args.minutes,
            "offered_jobs_per_s": self.args.rate,
            "inserted": producer.inserted,
            "insert_batches_failed_by_faults": producer.failed_batches,
            "jobs": totals["jobs"],
            "completed": totals["completed"],
            "failed_by_design": totals["failed"],
            "unfinished": totals["open"],
            "duplicates": effects["n"] - effects["jobs"],
            "completed_without_effect": wrong["n"],
            "throughput_jobs_per_s": {
                "mean": round(sum(rates) / len(rates), 1) if rates else None,
                "min": min(rates) if rates else None,
            },
            "p99_end_to_end_s": {
                "median_of_windows": sorted(p99s)[len(p99s) // 2] if p99s else None,
                "worst_window": max(p99s) if p99s else None,
            },
            "dead_tuples_end": final["dead_tuples"],
            "dead_tuples_max": max(s["dead_tuples"] for s in self.samples),
            "long_lived_worker_rss_kib": long_lived,
            "faults": self.faults,
            "seconds_to_drain_after_load": round(settle, 1),
            "worker_exit_codes": list(exits.values()),
            "samples": [{k: v for k, v in s.items() if k != "_at"} for s in self.samples],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0, help="offered jobs per second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON")
    args = parser.parse_args(argv)
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("no PostgreSQL binaries to start a private server")
    pg = PrivatePostgres(bin_dir, settings={"idle_in_transaction_session_timeout": "'5s'"})
    soak: Soak | None = None
    try:
        pg.init()
        pg.start()
        url = pg.create_database("soak")
        with awa.Client(url, max_connections=1) as client:
            client.migrate()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(RECORDS)
        soak = Soak(pg, url, args)
        report = soak.run()
    finally:
        if soak is not None:
            for worker in soak.workers:
                worker.close()
            soak.db.close()
        pg.cleanup()
    summary = {k: v for k, v in report.items() if k != "samples"}
    print(json.dumps(summary, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2))
    ok = (
        report["duplicates"] == 0
        and report["completed_without_effect"] == 0
        and report["unfinished"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
