"""Worker processes, fault injectors and waits for the fault suite."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.worker_process import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]

# The tables the worker app writes its evidence to (see tests/chaos/app.py).
RECORDS = """
CREATE TABLE spans (
    job_id bigint NOT NULL, attempt int NOT NULL, lease bigint NOT NULL, pid int NOT NULL,
    started timestamptz NOT NULL DEFAULT clock_timestamp(), ended timestamptz, outcome text
);
CREATE INDEX ON spans (job_id, lease);
CREATE TABLE effects (
    job_id bigint NOT NULL, lease bigint NOT NULL, pid int NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE refused (job_id bigint NOT NULL, lease bigint NOT NULL, pid int NOT NULL, what text);
"""

# Fast enough that a stopped worker is rescued within seconds; staleness at
# five heartbeats, so a loaded machine does not rescue live jobs.
FAST = [
    "--set=heartbeat_interval=0.4",
    "--set=heartbeat_staleness=2.0",
    "--set=rescue_interval=0.3",
    "--set=leader_election_interval=0.3",
    "--set=leader_check_interval=0.3",
    "--set=promote_interval=0.02",
    "--drain-timeout=5",
]


class Worker(WorkerProcess):
    """One ``awa worker tests.chaos.app:client`` process."""

    def __init__(self, url: str, *args: str, backend: str = "asyncio", env: dict[str, str]) -> None:
        super().__init__("tests.chaos.app:client", url, "--backend", backend, *args, env=env)
        self.backend = backend


class Db:
    """The controller's connection: reconnects after faults cut it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(
                self.url, autocommit=True, row_factory=dict_row, application_name="chaos-control"
            )
        return self._conn

    def query(self, sql: str, params: Any = None, *, attempts: int = 50) -> list[dict[str, Any]]:
        for attempt in range(attempts):
            try:
                cur = self._connection().execute(sql, params)
                return cur.fetchall() if cur.description else []
            except psycopg.OperationalError:
                if self._conn is not None:
                    self._conn.close()
                if attempt == attempts - 1:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def one(self, sql: str, params: Any = None) -> dict[str, Any]:
        return self.query(sql, params)[0]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def wait_until(
    what: str, done: Callable[[], bool], *, timeout: float, interval: float = 0.1
) -> float:
    """Poll ``done()`` (database state) until true; return the seconds it took."""
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
        time.sleep(interval)
    return time.monotonic() - start


class Faults:
    """Counts what was injected, by kind."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def note(self, kind: str, n: int = 1) -> None:
        self.counts[kind] += n


def terminate_backends(db: Db, application_name: str) -> int:
    """``pg_terminate_backend`` every connection of one role (by application_name)."""
    rows = db.query(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = %s",
        (application_name,),
    )
    return int(rows[0]["n"])


def connections(db: Db, application_name: str) -> int:
    return int(
        db.one(
            "SELECT count(*) AS n FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            (application_name,),
        )["n"]
    )
