"""Test signals: named events services emit, which tests await instead of sleeping.

Emitting is cheap (a bounded history plus waking any waiter), so signals are
always on. ``await signals.wait_for("job_finalized", lambda d: d["id"] == 7)``
returns the first matching event, past or future.

Observers (``observe(fn)``) hear every signal as it is emitted: that is how
the OpenTelemetry metrics layer (``awa.observability``) watches the runtime.
Data only observers need is computed when ``observed`` is true.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
import attrs

logger = logging.getLogger("awa.signals")

Predicate = Callable[[dict[str, Any]], bool]
Observer = Callable[[str, dict[str, Any]], None]


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
        self._observers: list[Observer] = []

    @property
    def observed(self) -> bool:
        """Whether any observer listens (so data only they need is worth computing)."""
        return bool(self._observers)

    def observe(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer(name, data)`` on every signal; returns a function that stops it."""
        self._observers.append(observer)

        def stop() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return stop

    def emit(self, signal: str, /, **data: Any) -> None:
        self._history.append((signal, data))
        for observer in self._observers:
            try:
                observer(signal, data)
            except Exception:
                logger.exception("signal observer %r failed on %s", observer, signal)
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
