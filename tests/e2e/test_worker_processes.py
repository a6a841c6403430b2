"""Real worker processes (``awa worker``): exactly-once across processes,
SIGKILL and rescue, SIGTERM and hand-back."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

import awa
from tests.e2e.jobs import Hang, Keyed, Record
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.pg, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FAST = [
    "--set=heartbeat_interval=0.3",
    "--set=heartbeat_staleness=1.0",
    "--set=rescue_interval=0.3",
    "--set=leader_election_interval=0.3",
    "--set=leader_check_interval=0.3",
    "--set=promote_interval=0.01",
]


class Worker(WorkerProcess):
    """One ``awa worker tests.e2e.app:client`` process."""

    def __init__(self, url: str, *args: str) -> None:
        super().__init__("tests.e2e.app:client", url, *args)


@pytest.fixture
def workers(database_url: str) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(*args: str) -> Worker:
        worker = Worker(database_url, *args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.close()


@pytest.fixture
def runs(db: psycopg.Connection) -> psycopg.Connection:
    db.execute(
        "CREATE TABLE runs (job_id bigint, attempt int, lease bigint, pid int,"
        " at timestamptz DEFAULT clock_timestamp())"
    )
    db.execute(
        "CREATE FUNCTION runs_notify() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN PERFORM pg_notify('runs', ''); RETURN NULL; END $$"
    )
    db.execute(
        "CREATE TRIGGER runs_notify AFTER INSERT ON runs"
        " FOR EACH STATEMENT EXECUTE FUNCTION runs_notify()"
    )
    return db


def wait_for(url: str, channel: str, done: Callable[[], bool], timeout: float) -> None:
    """Re-check ``done()`` whenever ``channel`` is notified (or every second)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'LISTEN "{channel}"')
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting on {channel}")
            for _ in conn.notifies(timeout=1.0, stop_after=1):
                pass


def test_twenty_thousand_jobs_on_four_processes_run_exactly_once(
    database_url: str, runs, workers
) -> None:
    with awa.Client(database_url) as client:
        ids = client.insert_many([Record(i) for i in range(20_000)], queue="bulk").ids
    procs = [workers("--queue", "bulk:16", *FAST) for _ in range(4)]
    for proc in procs:
        proc.ready()

    def count() -> int:
        return int(runs.execute("SELECT count(*) AS n FROM runs").fetchone()["n"])

    wait_for(database_url, "runs", lambda: count() >= 20_000, timeout=600)
    with awa.Client(database_url) as client:
        stats = {s.queue: s for s in client.queue_stats()}
        # the completer may still be writing the last outcomes: wait for them
        wait_for(
            database_url,
            "runs",
            lambda: client.queue_stats()[0].total_queued == 0,
            timeout=60,
        )
        stats = {s.queue: s for s in client.queue_stats()}
    for proc in procs:
        assert proc.stop() == 0, "".join(proc.lines)
    totals = runs.execute(
        "SELECT count(*) AS runs, count(DISTINCT job_id) AS jobs,"
        " count(DISTINCT pid) AS pids FROM runs"
    ).fetchone()
    assert totals["runs"] == 20_000, "some job ran twice"
    assert totals["jobs"] == 20_000
    assert totals["pids"] == 4
    completed = runs.execute(
        "SELECT count(*) AS n FROM awa.jobs WHERE state = 'completed' AND id = ANY(%s)",
        (list(ids),),
    ).fetchone()["n"]
    assert completed == 20_000
    assert stats["bulk"].total_queued == 0


def test_sigkilled_worker_job_is_rescued_and_runs_once_more(
    database_url: str, runs, workers
) -> None:
    first = workers("--queue", "hang:2", *FAST)
    first.ready()
    with awa.Client(database_url) as client:
        job = client.insert(Hang(1), queue="hang")
    wait_for(
        database_url,
        "runs",
        lambda: runs.execute("SELECT count(*) AS n FROM runs").fetchone()["n"] == 1,
        timeout=30,
    )
    second = workers("--queue", "hang:2", *FAST)
    second.ready()
    first.proc.kill()  # SIGKILL: no shutdown, no hand-back, heartbeats just stop
    first.proc.wait(30)

    def finished() -> bool:
        row = runs.execute("SELECT state FROM awa.jobs WHERE id = %s", (job.id,)).fetchone()
        return row is not None and row["state"] == "completed"

    wait_for(database_url, "e2e_done", finished, timeout=60)
    attempts = runs.execute(
        "SELECT attempt, lease, pid FROM runs WHERE job_id = %s ORDER BY at", (job.id,)
    ).fetchall()
    assert [(r["attempt"], r["lease"]) for r in attempts] == [(1, 1), (2, 2)]
    assert attempts[0]["pid"] == first.proc.pid
    assert attempts[1]["pid"] == second.proc.pid
    with awa.Client(database_url) as client:
        done = client.get_job(job.id)
        assert (done.state, done.attempt, done.run_lease) == (awa.JobState.COMPLETED, 2, 2)
        assert done.errors[0]["type"] == "HeartbeatStale"
    # The killed attempt's completion, arriving late, misses on its lease.
    late = runs.execute(
        "WITH done AS (DELETE FROM awa.jobs_hot WHERE id = %s AND run_lease = 1"
        " AND state = 'running' RETURNING id) SELECT count(*) AS n FROM done",
        (job.id,),
    ).fetchone()
    assert late["n"] == 0
    assert second.stop() == 0


def test_sigterm_hands_unfinished_jobs_back_to_another_worker(
    database_url: str, runs, workers
) -> None:
    slow = [arg for arg in FAST if "staleness" not in arg and "heartbeat_interval" not in arg]
    slow += ["--set=heartbeat_interval=20", "--set=heartbeat_staleness=60"]
    first = workers("--queue", "hang:2", "--drain-timeout", "0.5", *slow)
    first.ready()
    with awa.Client(database_url) as client:
        job = client.insert(Hang(1), queue="hang")
    wait_for(
        database_url,
        "runs",
        lambda: runs.execute("SELECT count(*) AS n FROM runs").fetchone()["n"] == 1,
        timeout=30,
    )
    second = workers("--queue", "hang:2", *slow)
    second.ready()
    assert first.stop(signal.SIGTERM) == 0, "".join(first.lines)
    assert any("shutting down gracefully" in line for line in first.lines)

    def rerun() -> bool:
        return runs.execute("SELECT count(*) AS n FROM runs").fetchone()["n"] == 2

    # No rescue can explain this within a minute (staleness is 60 s): it was handed back.
    wait_for(database_url, "runs", rerun, timeout=30)
    attempt = runs.execute(
        "SELECT attempt, lease, pid FROM runs WHERE job_id = %s ORDER BY at DESC LIMIT 1",
        (job.id,),
    ).fetchone()
    assert (attempt["attempt"], attempt["lease"], attempt["pid"]) == (1, 2, second.proc.pid)
    assert second.stop() == 0


def test_per_key_limits_hold_across_four_processes(database_url: str, db, workers) -> None:
    db.execute(
        "CREATE TABLE spans (id bigserial PRIMARY KEY, job_id bigint, tenant int,"
        " started timestamptz, ended timestamptz)"
    )
    limits = {0: 1, 1: 2, 2: 3}
    with awa.Client(database_url) as client:
        for tenant, limit in limits.items():
            client.insert_many(
                [Keyed(tenant) for _ in range(150)],
                queue="keyed",
                concurrency_key=f"tenant-{tenant}",
                concurrency_limit=limit,
            )
    procs = [workers("--queue", "keyed:8", *FAST) for _ in range(4)]
    for proc in procs:
        proc.ready()

    def finished() -> int:
        row = db.execute("SELECT count(*) AS n FROM spans WHERE ended IS NOT NULL").fetchone()
        return int(row["n"])

    wait_for(database_url, "runs", lambda: finished() >= 450, timeout=300)
    for proc in procs:
        assert proc.stop() == 0, "".join(proc.lines)
    # The most spans of one tenant open at any span's start.
    peaks = db.execute(
        "SELECT a.tenant, max(c.open) AS peak FROM spans AS a CROSS JOIN LATERAL ("
        "  SELECT count(*) AS open FROM spans AS b"
        "   WHERE b.tenant = a.tenant AND b.started <= a.started AND b.ended > a.started"
        ") AS c GROUP BY a.tenant ORDER BY a.tenant"
    ).fetchall()
    assert all(r["peak"] <= limits[r["tenant"]] for r in peaks), peaks
    ran = db.execute("SELECT count(*) AS n, count(DISTINCT job_id) AS jobs FROM spans").fetchone()
    assert (ran["n"], ran["jobs"]) == (450, 450)
    left = db.execute(
        "SELECT count(*) AS n FROM awa.jobs WHERE queue = 'keyed' AND state <> 'completed'"
    ).fetchone()
    assert left["n"] == 0
