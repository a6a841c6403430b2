"""The shape shared by periodic services: ``run(task_status)`` around ``run_once()``."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskStatus

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
