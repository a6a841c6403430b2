"""Blocking wait for a job to settle, for the sync client (LISTEN awa:finished)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg import sql

from awa._db.errors import translate
from awa._sql import Q

T = TypeVar("T")


def wait_finished_sync(
    conninfo: str, job_id: int, settled: Callable[[], T | None], timeout: float | None
) -> T:
    """Call ``settled()`` now and after every notification naming ``job_id``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        with psycopg.connect(conninfo, autocommit=True, application_name="awa-wait") as conn:
            statement = sql.SQL(Q["listen"].text).format(channel=sql.Identifier("awa:finished"))
            conn.execute(statement)
            while True:
                found = settled()
                if found is not None:
                    return found
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"job {job_id} did not finish within {timeout}s")
                for note in conn.notifies(timeout=remaining, stop_after=1):
                    ids = note.payload.split(",") if note.payload else []
                    if ids and str(job_id) not in ids:
                        continue
    except psycopg.Error as exc:
        raise translate(exc) from exc
