"""Handlers and lifecycle hooks registered on a client (no I/O)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import attrs

from awa._model.cron import PeriodicJob
from awa._model.insert import check_kind, check_queue
from awa._model.kinds import derive_kind
from awa.errors import ConfigError

EVENTS = ("completed", "retried", "failed", "cancelled", "snoozed", "rescued")


def is_async_callable(fn: object) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    return inspect.iscoroutinefunction(call)


@attrs.frozen
class Handler:
    """One kind's handler: ``fn(job)``, async or plain ``def`` (run in a thread)."""

    kind: str
    queue: str
    args_type: Any
    fn: Callable[..., Any]
    is_async: bool


@attrs.frozen
class Hook:
    event: str
    fn: Callable[..., Any]
    kind: str | None
    is_async: bool


@attrs.define
class Registry:
    handlers: dict[str, Handler] = attrs.field(factory=dict)
    hooks: list[Hook] = attrs.field(factory=list)
    periodic: dict[str, PeriodicJob] = attrs.field(factory=dict)

    def add_periodic(self, job: PeriodicJob) -> PeriodicJob:
        if job.name in self.periodic and self.periodic[job.name] != job:
            raise ConfigError(
                f"a different periodic job named {job.name!r} is already declared", field="name"
            )
        self.periodic[job.name] = job
        return job

    def add_handler(
        self, args_type: Any, fn: Callable[..., Any], *, queue: str, kind: str | None
    ) -> Handler:
        if not callable(fn):
            raise ConfigError(f"handler must be callable, got {fn!r}", field="handler")
        if kind is None:
            if args_type is dict or not isinstance(args_type, type):
                raise ConfigError(
                    "worker(): dict args (or a non-class) need an explicit kind=", field="kind"
                )
            kind = derive_kind(args_type.__name__)
        handler = Handler(
            kind=check_kind(kind),
            queue=check_queue(queue),
            args_type=args_type,
            fn=fn,
            is_async=is_async_callable(fn),
        )
        if handler.kind in self.handlers:
            raise ConfigError(
                f"a handler for kind {handler.kind!r} is already registered", field="kind"
            )
        self.handlers[handler.kind] = handler
        return handler

    def add_hook(self, event: str, fn: Callable[..., Any], *, kind: str | None) -> Hook:
        if event not in EVENTS:
            raise ConfigError(
                f"unknown event {event!r} (one of {', '.join(EVENTS)})", field="event"
            )
        if not callable(fn):
            raise ConfigError(f"hook must be callable, got {fn!r}", field="hook")
        hook = Hook(event, fn, None if kind is None else check_kind(kind), is_async_callable(fn))
        self.hooks.append(hook)
        return hook

    def hooks_for(self, event: str, kind: str) -> list[Hook]:
        return [h for h in self.hooks if h.event == event and h.kind in (None, kind)]

    def queues(self) -> list[str]:
        """The queues of the registered handlers, in registration order."""
        seen: list[str] = []
        for handler in self.handlers.values():
            if handler.queue not in seen:
                seen.append(handler.queue)
        return seen


@attrs.frozen
class JobEvent:
    """A lifecycle event, delivered to hooks after its transaction committed.

    ``event`` is one of completed, retried, failed, cancelled, snoozed,
    rescued; ``job`` is the job as the worker (or rescuer) last saw it;
    ``error`` the error entry recorded with the event, if any.
    """

    event: str
    job: Any
    error: dict[str, Any] | None = None
