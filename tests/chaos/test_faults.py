"""The fault suite: a mixed workload on three worker processes under faults.

Faults: SIGKILL of a worker, ``pg_terminate_backend`` of the listener, leader
and pool connections (found by ``application_name``), a paused worker
(SIGSTOP past the heartbeat staleness, then SIGCONT), pool exhaustion, and a
restart of PostgreSQL (a private server, see conftest). Afterwards every job
must be in a terminal state it is allowed to reach, none lost, no attempt's
effect duplicated, no two live attempts of one job overlapping, and the
counts must reconcile exactly.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import random
import re
import signal
import time
from datetime import timedelta
from typing import Any

import pytest

import awa
from tests.chaos.harness import (
    FAST,
    Db,
    Faults,
    Worker,
    connections,
    terminate_backends,
    wait_until,
)
from tests.chaos.jobs import Work
from tests.chaos.private_pg import PrivatePostgres

pytestmark = [pytest.mark.chaos, pytest.mark.pg, pytest.mark.slow, pytest.mark.timeout(420)]

TERMINAL = ("completed", "failed", "cancelled")
WORKERS_PER_PROCESS = 8
POOL = 6  # fewer connections than job slots: hogs exhaust it
ROUNDS = int(os.environ.get("AWA_CHAOS_ROUNDS", "2"))


class Workload:
    """Inserts waves of mixed jobs and remembers what each job may end as."""

    def __init__(self, url: str, db: Db, rng: random.Random) -> None:
        self.url = url
        self.db = db
        self.rng = rng
        self.allowed: dict[int, set[str]] = {}
        self.modes: collections.Counter[str] = collections.Counter()
        self.admin_cancels: collections.Counter[str] = collections.Counter()
        self._waves = itertools.count(1)
        self._n = itertools.count()

    def _jobs(self, mode: str, count: int, sleep: tuple[float, float]) -> list[Work]:
        return [Work(next(self._n), mode, round(self.rng.uniform(*sleep), 3)) for _ in range(count)]

    def _insert(self, client: awa.Client, jobs: list[Any], **options: Any) -> list[int]:
        """insert_many, retried across faults without ever inserting twice."""
        tag = f"wave-{next(self._waves)}"
        for _ in range(50):
            try:
                return list(client.insert_many(jobs, queue="chaos", tags=[tag], **options).ids)
            except awa.DatabaseError:
                rows = self.db.query(
                    "SELECT id FROM awa.jobs WHERE %s = ANY(tags) ORDER BY id", (tag,)
                )
                if rows:  # committed before the connection died
                    return [r["id"] for r in rows]
                time.sleep(0.2)
        raise AssertionError(f"could not insert {tag}")

    def wave(self, *, scale: int = 1, hogs: int = 0) -> None:
        groups = {
            "ok": (60 * scale, (0.0, 0.05), {"completed"}),
            "slow": (6 * scale, (1.0, 2.0), {"completed"}),
            "retry": (12 * scale, (0.0, 0.05), {"completed"}),
            "snooze": (12 * scale, (0.0, 0.05), {"completed"}),
            "fail": (6 * scale, (0.0, 0.05), {"failed"}),
            "cancel": (6 * scale, (0.0, 0.05), {"cancelled"}),
            "hog": (hogs, (0.8, 1.2), {"completed"}),
        }
        with awa.Client(self.url, max_connections=2) as client:
            for mode, (count, sleep, allowed) in groups.items():
                if not count:
                    continue
                work = self._jobs("ok" if mode == "slow" else mode, count, sleep)
                for job_id in self._insert(client, work):
                    self.allowed[job_id] = allowed
                self.modes[mode] += count
            # scheduled: due within seconds, promoted by the leader
            for job_id in self._insert(
                client, self._jobs("ok", 12 * scale, (0.0, 0.05)), run_at=timedelta(seconds=2)
            ):
                self.allowed[job_id] = {"completed"}
            self.modes["scheduled"] += 12 * scale
            # admin cancels: of scheduled jobs (always cancelled) and of
            # jobs likely running (cancelled, or completed if they won)
            far = self._insert(client, self._jobs("ok", 4, (0, 0)), run_at=timedelta(hours=1))
            near = self._insert(client, self._jobs("ok", 4, (0.3, 0.6)))
            self.modes["admin_cancel"] += 8
            for job_id in far + near:
                self.allowed[job_id] = {self._admin_cancel(client, job_id)}

    def _admin_cancel(self, client: awa.Client, job_id: int) -> str:
        for _ in range(50):
            try:
                job = client.cancel(job_id, reason="chaos: admin cancel")
            except awa.InvalidStateError as exc:
                self.admin_cancels[f"too_late_{exc.state}"] += 1
                return exc.state
            except awa.DatabaseError:
                time.sleep(0.2)
                continue
            self.admin_cancels[str(job.state)] += 1
            return "cancelled"
        raise AssertionError(f"could not cancel job {job_id}")

    def unfinished(self) -> int:
        rows = self.db.query(
            "SELECT count(*) AS n FROM awa.jobs WHERE id = ANY(%s) AND state <> ALL(%s)",
            (list(self.allowed), list(TERMINAL)),
        )
        return int(rows[0]["n"])


class Fleet:
    """Three worker processes (asyncio, trio, asyncio); replacements on demand."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.all: list[Worker] = []
        self.live: list[Worker] = []

    def spawn(self, backend: str = "asyncio") -> Worker:
        worker = Worker(
            self.url,
            "--queue",
            f"chaos:{WORKERS_PER_PROCESS}",
            *FAST,
            backend=backend,
            env={"CHAOS_POOL": str(POOL)},
        )
        self.all.append(worker)
        self.live.append(worker)
        worker.ready()
        return worker

    def close(self) -> None:
        for worker in self.all:
            worker.close()


def open_spans(db: Db, pid: int) -> list[dict[str, Any]]:
    return db.query(
        "SELECT s.job_id, s.lease FROM spans AS s JOIN awa.jobs_hot AS h"
        " ON h.id = s.job_id AND h.run_lease = s.lease AND h.state = 'running'"
        " WHERE s.pid = %s AND s.ended IS NULL",
        (pid,),
    )


def busy(db: Db, worker: Worker, *, at_least: int = 1) -> bool:
    return len(open_spans(db, worker.pid)) >= at_least


def all_connected(db: Db, fleet: Fleet) -> bool:
    n = len(fleet.live)
    return connections(db, "awa-listener") >= n and connections(db, "awa-leader") >= n


def fault_round(
    private_pg: PrivatePostgres, db: Db, work: Workload, faults: Faults, fleet: Fleet
) -> list[dict[str, Any]]:
    """One of each fault, a wave of jobs after each; returns the paused attempts."""
    # 1. SIGKILL a busy worker; start a replacement.
    victim = fleet.live[0]
    wait_until("a worker running jobs", lambda: busy(db, victim), timeout=60)
    victim.send_signal(signal.SIGKILL)
    victim.proc.wait(30)
    fleet.live.remove(victim)
    faults.note("sigkill")
    fleet.spawn(victim.backend)
    work.wave()

    # 2-4. Cut the listener, leader and pool connections of every worker.
    for role in ("awa-listener", "awa-leader", "awa"):
        wait_until(f"{role} connections", lambda: all_connected(db, fleet), timeout=60)
        faults.note(f"terminate:{role}", terminate_backends(db, role))
        work.wave()
    wait_until("reconnected", lambda: all_connected(db, fleet), timeout=60)

    # 5. Pause a busy worker past the staleness window, then resume it.
    sleeper = fleet.live[0]
    work.wave()
    wait_until("a worker running jobs", lambda: busy(db, sleeper), timeout=60)
    sleeper.send_signal(signal.SIGSTOP)
    faults.note("sigstop")
    paused = open_spans(db, sleeper.pid)

    def rescued() -> bool:
        rows = db.query(
            "SELECT count(*) AS n FROM awa.jobs_hot WHERE state = 'running' AND"
            " (id, run_lease) IN (SELECT * FROM unnest(%s::bigint[], %s::bigint[]))",
            ([p["job_id"] for p in paused], [p["lease"] for p in paused]),
        )
        return bool(rows[0]["n"] == 0)

    wait_until("the paused worker's jobs rescued", rescued, timeout=60)
    # Writes sent just before SIGSTOP may commit after the spans were read;
    # anything the paused attempts write after this instant is late.
    rescued_at = db.one("SELECT clock_timestamp() AS at")["at"]
    paused = [{**p, "rescued_at": rescued_at} for p in paused]
    sleeper.send_signal(signal.SIGCONT)

    # 6. Pool exhaustion: more connection-holding jobs than pool slots.
    work.wave(hogs=3 * WORKERS_PER_PROCESS)
    faults.note("pool_exhaustion")

    # 7. Restart PostgreSQL with jobs in flight.
    work.wave()
    wait_until("jobs in flight", lambda: any(busy(db, w) for w in fleet.live), timeout=60)
    mode = (
        "fast"
        if faults.counts["postgres_restart:fast"] <= faults.counts["postgres_restart:immediate"]
        else "immediate"
    )
    private_pg.restart(mode)
    faults.note(f"postgres_restart:{mode}")
    wait_until("reconnected after restart", lambda: all_connected(db, fleet), timeout=60)
    work.wave()
    return paused


def test_mixed_workload_survives_faults(private_pg: PrivatePostgres, chaos_url: str) -> None:
    rng = random.Random(20261203)
    db = Db(chaos_url)
    work = Workload(chaos_url, db, rng)
    faults = Faults()
    fleet = Fleet(chaos_url)
    started = time.monotonic()
    paused: list[dict[str, Any]] = []
    try:
        for backend in ("asyncio", "trio", "asyncio"):
            fleet.spawn(backend)
        work.wave()
        for _ in range(ROUNDS):
            paused += fault_round(private_pg, db, work, faults, fleet)
        wait_until("every job finished", lambda: work.unfinished() == 0, timeout=180, interval=0.5)
        exits = {w.pid: w.stop() for w in fleet.live}
    finally:
        fleet.close()
    elapsed = time.monotonic() - started
    try:
        check_and_report(db, work, faults, fleet, paused, exits, elapsed)
    finally:
        db.close()


def check_and_report(
    db: Db,
    work: Workload,
    faults: Faults,
    fleet: Fleet,
    paused: list[dict[str, Any]],
    exits: dict[int, int],
    elapsed: float,
) -> None:
    ids = list(work.allowed)
    rows = db.query("SELECT id, state::text, run_lease FROM awa.jobs WHERE id = ANY(%s)", (ids,))
    final = {r["id"]: r for r in rows}
    lost = sorted(set(ids) - set(final))
    wrong = {
        i: (r["state"], work.allowed[i])
        for i, r in final.items()
        if r["state"] not in work.allowed[i]
    }
    states = collections.Counter(r["state"] for r in final.values())
    expected = collections.Counter(next(iter(a)) for a in work.allowed.values())
    effects = db.query(
        "SELECT job_id, lease, count(*) OVER (PARTITION BY job_id) AS n FROM effects"
    )
    duplicates = sum(1 for e in effects if e["n"] > 1)
    bad_effects = [
        e
        for e in effects
        if final.get(e["job_id"], {}).get("state") != "completed"
        or final[e["job_id"]]["run_lease"] != e["lease"]
    ]
    without_effect = (
        sum(
            1
            for i, r in final.items()
            if r["state"] == "completed" and not any(e["job_id"] == i for e in effects)
        )
        if len(effects) < 5000
        else 0
    )
    lease_twice = db.query(
        "SELECT job_id, lease, count(*) AS n FROM spans GROUP BY 1, 2 HAVING count(*) > 1"
    )
    overlaps = db.query(
        "SELECT a.job_id, a.lease, b.lease AS other FROM spans AS a JOIN spans AS b"
        " ON a.job_id = b.job_id AND a.lease < b.lease"
        " WHERE a.ended IS NOT NULL AND b.ended IS NOT NULL"
        " AND tstzrange(a.started, a.ended) && tstzrange(b.started, b.ended)"
    )
    attempts = db.one(
        "SELECT count(*) AS spans, count(*) FILTER (WHERE ended IS NULL) AS cut_short,"
        " count(DISTINCT pid) AS pids FROM spans"
    )
    pairs = (
        [p["job_id"] for p in paused],
        [p["lease"] for p in paused],
        [p["rescued_at"] for p in paused],
    )
    late = db.query(
        "SELECT s.job_id, s.lease, s.ended FROM spans AS s"
        " JOIN unnest(%s::bigint[], %s::bigint[], %s::timestamptz[]) AS p(job_id, lease, at)"
        " ON p.job_id = s.job_id AND p.lease = s.lease WHERE s.ended >= p.at",
        pairs,
    )
    stale_effects = db.query(
        "SELECT e.* FROM effects AS e"
        " JOIN unnest(%s::bigint[], %s::bigint[], %s::timestamptz[]) AS p(job_id, lease, at)"
        " ON p.job_id = e.job_id AND p.lease = e.lease WHERE e.at >= p.at",
        pairs,
    )
    in_flight = db.one(
        "SELECT count(*) AS n FROM spans AS s"
        " JOIN unnest(%s::bigint[], %s::bigint[], %s::timestamptz[]) AS p(job_id, lease, at)"
        " ON p.job_id = s.job_id AND p.lease = s.lease WHERE s.ended < p.at",
        pairs,
    )["n"]
    refused = db.one("SELECT count(*) AS n FROM refused")["n"]
    log: collections.Counter[str] = collections.Counter()
    for worker in fleet.all:
        for line in worker.lines:
            if not line.startswith("awa: "):
                log[re.sub(r"[0-9]+", "N", line.strip())[:60]] += 1
    figures = {
        "jobs": len(ids),
        "by_mode": dict(work.modes),
        "final_states": dict(states),
        "expected_states": dict(expected),
        "admin_cancels": dict(work.admin_cancels),
        "attempts_started": attempts["spans"],
        "attempts_cut_short": attempts["cut_short"],
        "worker_processes": len(fleet.all),
        "faults": dict(faults.counts),
        "paused_worker_attempts": len(paused),
        "paused_attempts_committed_before_the_pause": in_flight,
        "duplicates": duplicates + len(lease_twice) + len(overlaps),
        "lost": len(lost),
        "late_writes_refused_in_handlers": refused,
        "worker_log_lines": dict(log.most_common(12)),
        "seconds": round(elapsed, 1),
    }
    print("\nchaos figures:", json.dumps(figures, sort_keys=True))
    assert not lost, f"lost jobs: {lost[:20]}"
    assert not wrong, f"jobs in states they may not reach: {list(wrong.items())[:20]}"
    assert states == expected, (states, expected)
    assert duplicates == 0, "a job's effect was written twice"
    assert not bad_effects, f"effects of stale or unfinished attempts: {bad_effects[:20]}"
    assert without_effect == 0, "a completed job has no effect row"
    assert not lease_twice, f"a lease was handed out twice: {lease_twice[:20]}"
    assert not overlaps, f"live attempts of one job overlapped: {overlaps[:20]}"
    assert paused, "the paused worker had no job in flight"
    assert not late, f"a paused attempt's late write got through: {late}"
    assert not stale_effects, "a paused attempt's effect was committed"
    assert all(code == 0 for code in exits.values()), exits
    assert faults.counts["terminate:awa-listener"] >= 3
    assert faults.counts["terminate:awa-leader"] >= 3
    assert faults.counts["terminate:awa"] >= 3
