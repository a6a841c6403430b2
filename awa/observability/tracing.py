"""Trace propagation: producer context in job metadata, a consumer span per attempt.

At insert, the caller's context is injected (``opentelemetry.propagate``,
W3C ``traceparent``/``tracestate`` by default) into the job's metadata as
``awa:traceparent`` etc. The worker runs each attempt's handler in a
CONSUMER span ``job.execute {kind}`` with the messaging semantic-convention
attributes. The first attempt's span is a child of the producer's context;
later attempts start a new trace with a *link* to it, so a job retried for
a day does not stretch the producer's trace.

Per job this is one SDK span and nothing more that can be avoided: the
producer's carrier is parsed once per distinct carrier (jobs inserted
together share one), and the span is started with all its attributes and
made current with a plain attach/detach rather than nested context managers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from contextvars import Token
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import (
    Link,
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)

from awa._model.instrumentation import TRACE_PREFIX
from awa._model.job import Job
from awa._runtime.outcome import Outcome
from awa.observability import names as n

SYSTEM = "awa"
_RECHECK = 1.0  # seconds between looking for a tracer provider while there is none


class _MetadataGetter(Getter[Mapping[str, Any]]):
    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(TRACE_PREFIX + key)
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [k[len(TRACE_PREFIX) :] for k in carrier if k.startswith(TRACE_PREFIX)]


_GETTER = _MetadataGetter()


def capture() -> dict[str, str]:
    """The caller's trace context as carrier entries ({} when there is no span)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def producer_context(metadata: Mapping[str, Any]) -> Context:
    """The context the job was inserted in, read back from its metadata."""
    return propagate.extract(metadata, context=Context(), getter=_GETTER)


class _Producers:
    """Producer contexts by carrier, parsed once: jobs inserted together share
    one ``traceparent``. Bounded (cleared when full) and forgotten when the
    global propagator is replaced."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._found: dict[tuple[tuple[str, str], ...], tuple[Context, SpanContext]] = {}
        self._propagator: object = None

    def get(self, metadata: Mapping[str, Any]) -> tuple[Context, SpanContext]:
        key = tuple(
            (k, v) for k, v in metadata.items() if k.startswith(TRACE_PREFIX) and isinstance(v, str)
        )
        propagator = propagate.get_global_textmap()
        if propagator is not self._propagator:
            self._found = {}
            self._propagator = propagator
        found = self._found.get(key)
        if found is None:
            parent = producer_context(metadata)
            found = (parent, trace.get_current_span(parent).get_span_context())
            if len(self._found) >= self._size:
                self._found = {}
            self._found[key] = found
        return found


class JobSpan:
    """One attempt's CONSUMER span, current while the handler runs."""

    __slots__ = ("_token", "span")

    _token: Token[Context]

    def __init__(self, span: Span) -> None:
        self.span = span

    def __enter__(self) -> JobSpan:
        self._token = attach(trace.set_span_in_context(self.span))
        return self

    def __exit__(self, *_exc: object) -> None:
        detach(self._token)
        self.span.end()

    def outcome(self, outcome: Outcome | None, error: BaseException | None) -> None:
        span = self.span
        if outcome is None:
            span.set_attribute(n.OUTCOME, "stopped")  # lease lost, admin cancel, abandoned
            return
        span.set_attribute(n.OUTCOME, outcome.event or outcome.action)
        if error is not None:
            span.record_exception(error)
        if outcome.error is not None and outcome.action in ("retry", "fail"):
            span.set_status(
                Status(StatusCode.ERROR, f"{outcome.error['type']}: {outcome.error['message']}")
            )


class _NoSpan:
    def outcome(self, outcome: Outcome | None, error: BaseException | None) -> None:
        pass


_NO_SPAN = _NoSpan()
_NOTHING: nullcontext[_NoSpan] = nullcontext(_NO_SPAN)


class Tracing:
    def __init__(
        self,
        tracer: Tracer,
        provider: TracerProvider | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tracer = tracer
        self.provider = provider
        self._producers = _Producers()
        self._clock = clock
        self._recording = False
        self._checked_at = -_RECHECK

    def recording(self) -> bool:
        """False while spans would go nowhere (no SDK installed), to skip their cost.

        Once true it stays true: the global provider can be set only once. While
        false it is looked up again at most every ``_RECHECK`` seconds (the
        lookup reads the environment), so a provider installed later is used
        from then on.
        """
        if self._recording:
            return True
        now = self._clock()
        if now - self._checked_at >= _RECHECK:
            self._checked_at = now
            provider = trace.get_tracer_provider() if self.provider is None else self.provider
            self._recording = not isinstance(provider, ProxyTracerProvider | NoOpTracerProvider)
        return self._recording

    def job_span(self, job: Job, queue: str) -> AbstractContextManager[JobSpan | _NoSpan]:
        if not self.recording():
            return _NOTHING
        parent, producer = self._producers.get(job.metadata)
        links: list[Link] | None = None
        context = _ROOT  # a root span unless it continues the producer's trace
        if producer.is_valid:
            if job.attempt <= 1:
                context = parent
            else:
                links = [Link(producer, {"awa.link": "producer"})]
        span = self.tracer.start_span(
            f"job.execute {job.kind}",
            context=context,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": SYSTEM,
                "messaging.destination.name": queue,
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.message.id": str(job.id),
                n.KIND: job.kind,
                "awa.job.attempt": job.attempt,
            },
            links=links,
            record_exception=False,
            set_status_on_exception=False,
        )
        return JobSpan(span)


_ROOT = Context()
