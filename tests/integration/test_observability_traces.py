"""Trace propagation producer -> worker on a real runtime (asyncio and trio).

The producer's context travels in the job's metadata (``awa:traceparent``);
the handler runs in a CONSUMER span whose parent is the producer's span on
the first attempt, and which only links to it on later attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

import awa
from awa import bridge
from tests.fixtures.fix_otel import Otel
from tests.runtime_helpers import fast, wait_finalized

pytestmark = pytest.mark.pg


@dataclass
class Trace:
    mode: str = "ok"


def _named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def _job_spans(otel: Otel, job_id: int) -> list[ReadableSpan]:
    found = [
        s
        for s in otel.spans()
        if s.name == "job.execute trace" and s.attributes["messaging.message.id"] == str(job_id)
    ]
    return sorted(found, key=lambda s: s.attributes["awa.job.attempt"])


async def test_worker_span_is_a_child_of_the_producer_span(
    client: awa.AsyncClient, pg_conn: psycopg.Connection[Any], otel: Otel
) -> None:
    tracer = otel.tracer_provider.get_tracer("test")

    @client.worker(Trace, queue="traced")
    async def handle(job: awa.JobContext) -> None:
        with tracer.start_as_current_span("inside handler"):
            pass

    @client.worker(dict, queue="traced", kind="sync_trace")
    def handle_sync(job: awa.JobContext) -> None:
        with tracer.start_as_current_span("inside thread"):
            pass

    with tracer.start_as_current_span("produce") as producer:
        one = await client.insert(Trace(), queue="traced")
        many = await client.insert_many([Trace(), Trace()], queue="traced")
        threaded = await client.insert({}, kind="sync_trace", queue="traced")
        bridged = bridge.insert_job_sync(pg_conn, Trace(), queue="traced")
        pg_conn.commit()
    context = producer.get_span_context()
    jobs = [one.id, *many.ids, threaded.id, bridged.id]
    for job_id in jobs:
        job = await client.get_job(job_id)
        assert job.metadata["awa:traceparent"].split("-")[1] == f"{context.trace_id:032x}"

    async with client:
        client.start(["traced"], **fast())
        for job_id in jobs:
            await wait_finalized(client, job_id, "complete")
        await client.shutdown()

    spans = otel.spans()
    for job_id in [one.id, *many.ids, bridged.id]:
        (span,) = _job_spans(otel, job_id)
        assert span.kind is SpanKind.CONSUMER
        assert span.parent is not None
        assert span.parent.span_id == context.span_id
        assert span.context.trace_id == context.trace_id
        assert not span.links
        assert dict(span.attributes) == {
            "messaging.system": "awa",
            "messaging.destination.name": "traced",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.message.id": str(job_id),
            "awa.job.kind": "trace",
            "awa.job.attempt": 1,
            "awa.job.outcome": "completed",
        }
    # Spans the handlers make nest under the job's span, in a task or a thread.
    consumers = {s.context.span_id: s for s in spans if s.name.startswith("job.execute")}
    inside = _named(spans, "inside handler") + _named(spans, "inside thread")
    assert len(inside) == 5
    for span in inside:
        assert span.parent is not None
        assert span.parent.span_id in consumers
    (sync_span,) = _named(spans, "job.execute sync_trace")
    assert sync_span.parent is not None
    assert sync_span.parent.span_id == context.span_id


async def test_a_retry_starts_a_new_trace_linked_to_the_producer(
    client: awa.AsyncClient, db: psycopg.Connection[Any], otel: Otel
) -> None:
    tracer = otel.tracer_provider.get_tracer("test")

    @client.worker(Trace, queue="traced")
    async def handle(job: awa.JobContext) -> object:
        if job.attempt == 1:
            raise RuntimeError("first attempt fails")
        return None

    with tracer.start_as_current_span("produce") as producer:
        job = await client.insert(Trace(), queue="traced")
    context = producer.get_span_context()

    async with client:
        client.start(["traced"], **fast())
        await wait_finalized(client, job.id, "retry")
        # Due now rather than after the backoff (the attempt count stays).
        db.execute("UPDATE awa.scheduled_jobs SET run_at = now() WHERE id = %s", (job.id,))
        db.execute('NOTIFY "awa:deferred"')
        await wait_finalized(client, job.id, "complete")
        await client.shutdown()

    first, second = _job_spans(otel, job.id)
    assert first.parent is not None
    assert first.parent.span_id == context.span_id
    assert first.status.status_code is StatusCode.ERROR
    assert first.attributes["awa.job.outcome"] == "retried"
    assert [e.name for e in first.events] == ["exception"]

    assert second.parent is None
    assert second.context.trace_id != context.trace_id
    assert [link.context.span_id for link in second.links] == [context.span_id]
    assert second.attributes["awa.job.outcome"] == "completed"


async def test_without_an_active_span_nothing_is_propagated(
    client: awa.AsyncClient, otel: Otel
) -> None:
    @client.worker(Trace, queue="traced")
    async def handle(job: awa.JobContext) -> None:
        return None

    job = await client.insert(Trace(), queue="traced", metadata={"mine": 1})
    assert job.metadata == {"mine": 1}
    async with client:
        client.start(["traced"], **fast())
        await wait_finalized(client, job.id, "complete")
        await client.shutdown()
    (span,) = _job_spans(otel, job.id)
    assert span.parent is None
    assert not span.links


async def test_telemetry_off_records_no_span(client: awa.AsyncClient, otel: Otel) -> None:
    @client.worker(Trace, queue="traced")
    async def handle(job: awa.JobContext) -> None:
        return None

    job = await client.insert(Trace(), queue="traced")
    async with client:
        client.start(["traced"], **fast(telemetry=False))
        await wait_finalized(client, job.id, "complete")
        await client.shutdown()
    assert not _job_spans(otel, job.id)
    assert "awa.job.completed" not in otel.metrics()
