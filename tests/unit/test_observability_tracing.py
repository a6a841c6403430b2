"""The worker's cache of producer contexts (awa/observability/tracing.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import propagate
from opentelemetry.propagators.composite import CompositePropagator

from awa.observability.tracing import _Producers

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def restore_propagator() -> Iterator[None]:
    saved = propagate.get_global_textmap()
    yield
    propagate.set_global_textmap(saved)


def test_jobs_of_one_producer_share_its_parsed_context() -> None:
    producers = _Producers()
    first, span = producers.get({"awa:traceparent": TRACEPARENT, "n": 1})
    again, _ = producers.get({"n": 2, "awa:traceparent": TRACEPARENT})
    assert again is first
    assert f"{span.trace_id:032x}" == TRACEPARENT.split("-")[1]
    _, other = producers.get({"awa:traceparent": TRACEPARENT[:-2] + "00"})
    assert span.trace_flags == 1
    assert other.trace_flags == 0
    _, none = producers.get({"awa:traceparent": 7})  # not a string: nothing to continue
    assert not none.is_valid


def test_a_new_global_propagator_is_used_at_once(restore_propagator: None) -> None:
    producers = _Producers()
    assert producers.get({"awa:traceparent": TRACEPARENT})[1].is_valid
    propagate.set_global_textmap(CompositePropagator([]))  # extracts nothing
    assert not producers.get({"awa:traceparent": TRACEPARENT})[1].is_valid


def test_the_cache_is_bounded() -> None:
    producers = _Producers(size=2)
    for i in range(5):
        parent = f"00-{i + 1:032x}-b7ad6b7169203331-01"
        assert producers.get({"awa:traceparent": parent})[1].trace_id == i + 1
    assert len(producers._found) <= 2
