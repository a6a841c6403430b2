"""Waiting for jobs to finish: many waiters, one LISTEN ``awa:finished``.

Statements that finish jobs (or park them) NOTIFY their ids; a waiter
re-reads its job when its id (or an empty "everyone look" payload) arrives.
"""

from __future__ import annotations

import anyio

from awa._db.listener import Listener, Subscription

FINISHED_CHANNEL = "awa:finished"


class FinishedHub:
    def __init__(self) -> None:
        self._waiters: dict[int, set[anyio.Event]] = {}
        self._subscription: Subscription | None = None
        self.listener: Listener | None = None

    def attach(self, listener: Listener) -> None:
        if self.listener is listener:
            return
        if self._subscription is not None:
            self._subscription.close()
        self.listener = listener
        self._subscription = listener.subscribe(
            FINISHED_CHANNEL, self._on_notify, lambda _gap: self._wake_all()
        )

    def _on_notify(self, payload: str) -> None:
        if not payload:
            self._wake_all()
            return
        for part in payload.split(","):
            if part.isdigit():
                for event in self._waiters.get(int(part), ()):
                    event.set()

    def _wake_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()

    def arm(self, job_id: int) -> anyio.Event:
        event = anyio.Event()
        self._waiters.setdefault(job_id, set()).add(event)
        return event

    def disarm(self, job_id: int, event: anyio.Event) -> None:
        events = self._waiters.get(job_id)
        if events is not None:
            events.discard(event)
            if not events:
                del self._waiters[job_id]
