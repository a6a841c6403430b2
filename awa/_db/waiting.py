"""Blocking waits for jobs to settle, for the sync client.

One background thread per client LISTENs on ``awa:finished`` and wakes the
threads waiting on the ids it names, so any number of waiting threads share
one connection. When that connection breaks, every waiter re-checks its job
and the thread reconnects.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg import sql

from awa._db.errors import translate
from awa._sql import Q

T = TypeVar("T")

logger = logging.getLogger("awa.wait")

FINISHED_CHANNEL = "awa:finished"
_POLL = 1.0  # how often the thread checks it should stop
_RETRY = 1.0  # pause before reconnecting


class SyncFinishedHub:
    """The listening thread and the waiters' events, keyed by job id."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._lock = threading.Lock()
        self._waiters: dict[int, set[threading.Event]] = {}
        self._thread: threading.Thread | None = None
        self._listening = threading.Event()
        self._tried = threading.Event()  # the thread's first connection attempt ended
        self._stop = threading.Event()
        self._error: BaseException | None = None

    def wait(self, job_id: int, settled: Callable[[], T | None], timeout: float | None) -> T:
        """Call ``settled()`` now and whenever ``job_id`` is notified; return
        its first non-None result."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._ensure_listening(deadline)
        while True:
            event = threading.Event()
            self._arm(job_id, event)
            try:
                found = settled()
                if found is not None:
                    return found
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"job {job_id} did not finish within {timeout}s")
                event.wait(remaining)
            finally:
                self._disarm(job_id, event)

    def close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(_POLL * 3)

    def _ensure_listening(self, deadline: float | None) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._listening.clear()
                self._tried.clear()
                self._error = None
                self._thread = threading.Thread(
                    target=self._run, name="awa-wait-listener", daemon=True
                )
                self._thread.start()
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        self._tried.wait(remaining)
        if not self._listening.is_set() and self._error is not None:
            raise self._error

    def _arm(self, job_id: int, event: threading.Event) -> None:
        with self._lock:
            self._waiters.setdefault(job_id, set()).add(event)

    def _disarm(self, job_id: int, event: threading.Event) -> None:
        with self._lock:
            events = self._waiters.get(job_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiters[job_id]

    def _wake(self, ids: list[int] | None) -> None:
        with self._lock:
            if ids is None:
                targets = [e for events in self._waiters.values() for e in events]
            else:
                targets = [e for i in ids for e in self._waiters.get(i, ())]
        for event in targets:
            event.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                self._error = translate(exc)
                logger.warning("wait_for listener lost its connection: %s", self._error)
            self._listening.clear()
            self._tried.set()
            self._wake(None)  # whatever was missed meanwhile: everyone re-checks
            self._stop.wait(_RETRY)

    def _listen(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True, application_name="awa-wait") as conn:
            statement = sql.SQL(Q["listen"].text).format(channel=sql.Identifier(FINISHED_CHANNEL))
            conn.execute(statement)
            self._error = None
            self._listening.set()
            self._tried.set()
            self._wake(None)  # notifications before LISTEN took effect are not lost
            while not self._stop.is_set():
                for note in conn.notifies(timeout=_POLL):
                    parts = [p for p in note.payload.split(",") if p.isdigit()]
                    self._wake([int(p) for p in parts] if parts else None)
