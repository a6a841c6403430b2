"""Trace propagation: producer context in job metadata, a consumer span per attempt.

At insert, the caller's context is injected (``opentelemetry.propagate``,
W3C ``traceparent``/``tracestate`` by default) into the job's metadata as
``awa:traceparent`` etc. The worker runs each attempt's handler in a
CONSUMER span ``job.execute {kind}`` with the messaging semantic-convention
attributes. The first attempt's span is a child of the producer's context;
later attempts start a new trace with a *link* to it, so a job retried for
a day does not stretch the producer's trace.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import (
    Link,
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
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


class JobSpan:
    def __init__(self, span: Span) -> None:
        self.span = span

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
    def __init__(self, tracer: Tracer, provider: TracerProvider | None) -> None:
        self.tracer = tracer
        self.provider = provider

    def recording(self) -> bool:
        """False while spans would go nowhere (no SDK installed), to skip their cost."""
        provider = trace.get_tracer_provider() if self.provider is None else self.provider
        return not isinstance(provider, ProxyTracerProvider | NoOpTracerProvider)

    def job_span(self, job: Job, queue: str) -> AbstractContextManager[JobSpan | _NoSpan]:
        if not self.recording():
            return _NOTHING
        return self._job_span(job, queue)

    @contextmanager
    def _job_span(self, job: Job, queue: str) -> Iterator[JobSpan]:
        parent = producer_context(job.metadata)
        producer = trace.get_current_span(parent).get_span_context()
        links: list[Link] = []
        context = Context()  # a root span unless it continues the producer's trace
        if producer.is_valid:
            if job.attempt <= 1:
                context = parent
            else:
                links.append(Link(producer, {"awa.link": "producer"}))
        attributes: dict[str, str | int] = {
            "messaging.system": SYSTEM,
            "messaging.destination.name": queue,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.message.id": str(job.id),
            n.KIND: job.kind,
            "awa.job.attempt": job.attempt,
        }
        with self.tracer.start_as_current_span(
            f"job.execute {job.kind}",
            context=context,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=links,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            yield JobSpan(span)
