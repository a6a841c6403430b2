"""The shape shared by periodic services: ``run(task_status)`` around ``run_once()``."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskStatus

from awa._db.listener import Listener
from awa._runtime.signals import Signals
from awa.errors import AwaError

logger = logging.getLogger("awa.service")


async def run_every(
    name: str,
    run_once: Callable[[], Awaitable[Any]],
    interval: float,
    *,
    task_status: TaskStatus[None],
    first_delay: float | None = None,
    signals: Signals | None = None,
    task: str | None = None,
) -> None:
    """Call ``run_once`` every ``interval`` seconds until cancelled.

    Database errors are logged and the next round tries again; anything else
    is a bug and propagates. With ``signals``, each round emits
    ``maintenance_pass`` (``task``, ``duration``, ``ok``).
    """
    task_status.started()
    await anyio.sleep(interval if first_delay is None else first_delay)
    while True:
        started = time.perf_counter()
        ok = True
        try:
            await run_once()
        except AwaError as exc:
            ok = False
            logger.warning("%s failed: %s", name, exc)
        if signals is not None:
            signals.emit(
                "maintenance_pass",
                task=task or name,
                duration=time.perf_counter() - started,
                ok=ok,
            )
        await anyio.sleep(interval)


async def run_when_due(
    name: str,
    run_once: Callable[[], Awaitable[float | None]],
    *,
    task_status: TaskStatus[None],
    signals: Signals,
    listener: Listener | None = None,
    channel: str | None = None,
    max_sleep: float,
    min_interval: float = 0.0,
    error_delay: float | None = None,
) -> None:
    """Call ``run_once`` again when it says (it returns the seconds until its
    next work, or None), after at most ``max_sleep``, or as soon as a NOTIFY on
    ``channel`` arrives — but never sooner than ``min_interval`` after the last
    round. Database errors are logged; ``error_delay`` caps the wait after one.
    Each round emits ``maintenance_pass``.
    """
    wake = anyio.Event()

    def poke(_payload: str) -> None:
        wake.set()

    subscription = (
        None if listener is None or channel is None else listener.subscribe(channel, poke)
    )
    task_status.started()
    try:
        while True:
            wake = anyio.Event()
            delay = max_sleep
            started = time.perf_counter()
            ok = True
            try:
                next_in = await run_once()
                if next_in is not None:
                    delay = min(delay, next_in)
            except AwaError as exc:
                ok = False
                logger.warning("%s failed: %s", name, exc)
                if error_delay is not None:
                    delay = min(delay, error_delay)
            signals.emit(
                "maintenance_pass", task=name, duration=time.perf_counter() - started, ok=ok
            )
            if min_interval > 0:
                await anyio.sleep(min_interval)
            with anyio.move_on_after(max(0.0, delay - min_interval)):
                await wake.wait()
    finally:
        if subscription is not None:
            subscription.close()
