"""The shape shared by periodic services: ``run(task_status)`` around ``run_once()``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskStatus

from awa.errors import AwaError

logger = logging.getLogger("awa.service")


async def run_every(
    name: str,
    run_once: Callable[[], Awaitable[Any]],
    interval: float,
    *,
    task_status: TaskStatus[None],
    first_delay: float | None = None,
) -> None:
    """Call ``run_once`` every ``interval`` seconds until cancelled.

    Database errors are logged and the next round tries again; anything else
    is a bug and propagates.
    """
    task_status.started()
    await anyio.sleep(interval if first_delay is None else first_delay)
    while True:
        try:
            await run_once()
        except AwaError as exc:
            logger.warning("%s failed: %s", name, exc)
        await anyio.sleep(interval)
