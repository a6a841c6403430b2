"""Lifecycle hooks: run after commit, in their own tasks; a failing hook is logged."""

from __future__ import annotations

import logging
from functools import partial

import anyio
from anyio.abc import TaskGroup

from awa._model.registry import Hook, JobEvent, Registry

logger = logging.getLogger("awa.hooks")


class HookRunner:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._tg: TaskGroup | None = None
        self.failures = 0
        self._running = 0
        self._idle: anyio.Event | None = None

    def attach(self, tg: TaskGroup | None) -> None:
        self._tg = tg

    def fire(self, event: JobEvent) -> None:
        hooks = self.registry.hooks_for(event.event, event.job.kind)
        if not hooks or self._tg is None:
            return
        for hook in hooks:
            self._running += 1
            self._tg.start_soon(self._call, hook, event)

    async def wait_idle(self) -> None:
        """Return once no hook is running."""
        while self._running:
            self._idle = anyio.Event()
            await self._idle.wait()

    async def _call(self, hook: Hook, event: JobEvent) -> None:
        try:
            if hook.is_async:
                await hook.fn(event)
            else:
                await anyio.to_thread.run_sync(partial(hook.fn, event))
        except Exception:
            self.failures += 1
            logger.exception("%s hook %r failed for job %s", event.event, hook.fn, event.job.id)
        finally:
            self._running -= 1
            if not self._running and self._idle is not None:
                self._idle.set()
