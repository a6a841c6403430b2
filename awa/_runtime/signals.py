"""Test signals: named events services emit, which tests await instead of sleeping.

Emitting is cheap (a bounded history plus waking any waiter), so signals are
always on. ``await signals.wait_for("job_finalized", lambda d: d["id"] == 7)``
returns the first matching event, past or future.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
import attrs

Predicate = Callable[[dict[str, Any]], bool]


@attrs.define(eq=False)
class _Waiter:
    name: str
    predicate: Predicate | None
    event: anyio.Event
    found: dict[str, Any] | None = None


class Signals:
    def __init__(self, history: int = 10_000) -> None:
        self._history: deque[tuple[str, dict[str, Any]]] = deque(maxlen=history)
        self._waiters: list[_Waiter] = []

    def emit(self, signal: str, /, **data: Any) -> None:
        self._history.append((signal, data))
        for waiter in list(self._waiters):
            if waiter.name == signal and (waiter.predicate is None or waiter.predicate(data)):
                waiter.found = data
                waiter.event.set()
                self._waiters.remove(waiter)

    def seen(self, name: str, predicate: Predicate | None = None) -> list[dict[str, Any]]:
        return [d for n, d in self._history if n == name and (predicate is None or predicate(d))]

    async def wait_for(
        self, name: str, predicate: Predicate | None = None, *, timeout: float = 30.0
    ) -> dict[str, Any]:
        """The first ``name`` event matching ``predicate``; TimeoutError after ``timeout``."""
        past = self.seen(name, predicate)
        if past:
            return past[0]
        waiter = _Waiter(name, predicate, anyio.Event())
        self._waiters.append(waiter)
        try:
            with anyio.fail_after(timeout):
                await waiter.event.wait()
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        assert waiter.found is not None
        return waiter.found

    def clear(self) -> None:
        self._history.clear()
