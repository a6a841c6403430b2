"""Hostile input through the public API, on a real database.

Whatever hypothesis throws at ``insert`` / ``insert_many`` (unicode, lone
surrogates, NUL bytes, huge numbers and strings, floats JSON can't hold,
odd option values), the job is either stored and read back exactly, or
refused with ``awa.ValidationError`` and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import awa
from awa._model.runtime_config import parse_runtime

pytestmark = [pytest.mark.pg]

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Printable text of any script, and now and then anything at all: every code
# point (surrogates included), NUL and other controls, odd separators.
clean_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=40)
wild_text = st.text(st.characters(codec=None, categories=None), max_size=40) | st.sampled_from(
    ["", "\x00", "a\x00b", "\ud800", "x\udfffy", "\u2028", "\ufeff", "é" * 250, "🙂" * 60]
)
any_text = clean_text | clean_text | wild_text
huge_text = st.sampled_from(["x" * (2 * 1024 * 1024), "\u00e9" * 600_000])
numbers = (
    st.integers()
    | st.integers(min_value=2**63 - 5, max_value=2**200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats()
)
json_scalars = st.none() | st.booleans() | numbers | any_text
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
args_objects = (
    st.dictionaries(any_text, json_values, max_size=5)
    | st.dictionaries(clean_text, json_values, max_size=5)
    | st.builds(lambda big: {"blob": big}, huge_text)
)
clean_names = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40)
names = clean_names | clean_names | clean_names | wild_text | st.text(min_size=195, max_size=205)
ints = st.sampled_from([1, 2, 3, 4, 25, 1000]) | st.integers(min_value=-(2**40), max_value=2**40)


def job_count(db: psycopg.Connection) -> int:
    return int(db.execute("SELECT count(*) AS n FROM awa.jobs").fetchone()["n"])


def same_json(a: Any, b: Any) -> bool:
    """Equality as JSON numbers: jsonb keeps the decimal value, not Python's type
    (``6.9e16`` reads back as the int ``69000000000000000``; ``-0.0`` as ``-0.0``
    or ``0``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and float(a) == float(b)
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return bool(a == b)


@FUZZ
@given(
    args=args_objects,
    kind=clean_names | clean_names | names,
    queue=clean_names | clean_names | names,
    tags=st.lists(clean_names, max_size=3) | st.lists(names, max_size=22),
    metadata=st.dictionaries(any_text, json_values, max_size=3),
    priority=st.integers(1, 4) | st.integers(1, 4) | ints,
    max_attempts=st.integers(1, 1000) | ints,
)
def test_insert_stores_exactly_or_refuses_and_writes_nothing(
    sync_client: awa.Client,
    db: psycopg.Connection,
    args: dict[str, Any],
    kind: str,
    queue: str,
    tags: list[str],
    metadata: dict[str, Any],
    priority: int,
    max_attempts: int,
) -> None:
    before = job_count(db)
    try:
        job = sync_client.insert(
            args,
            kind=kind,
            queue=queue,
            tags=tags,
            metadata=metadata,
            priority=priority,
            max_attempts=max_attempts,
        )
    except awa.ValidationError as exc:
        event(f"refused: {exc.field}")
        assert job_count(db) == before, "a refused insert wrote something"
        return
    event("stored")
    stored = sync_client.get_job(job.id)
    assert same_json(stored.args, args)
    assert stored.kind == kind
    assert stored.queue == queue
    assert list(stored.tags) == tags
    assert same_json(stored.metadata, metadata)
    assert (stored.priority, stored.max_attempts) == (priority, max_attempts)
    assert job_count(db) == before + 1


@FUZZ
@given(batch=st.lists(st.tuples(args_objects, names), min_size=1, max_size=6))
def test_insert_many_is_all_or_nothing(
    sync_client: awa.Client, db: psycopg.Connection, batch: list[tuple[dict[str, Any], str]]
) -> None:
    before = job_count(db)
    jobs = [awa.InsertJob(args, kind="fuzz", queue=queue) for args, queue in batch]
    try:
        result = sync_client.insert_many(jobs)
    except awa.ValidationError:
        event("refused")
        assert job_count(db) == before, "a refused batch wrote something"
        return
    event("stored")
    assert len(result.ids) == len(batch)
    for job_id, (args, queue) in zip(result.ids, batch, strict=True):
        stored = sync_client.get_job(job_id)
        assert same_json(stored.args, args)
        assert stored.queue == queue


@FUZZ
@given(
    bad=st.sampled_from(
        [
            {"priority": True},
            {"priority": 2.0},
            {"max_attempts": "3"},
            {"tags": "not-a-list"},
            {"tags": [1, 2]},
            {"metadata": ["a list"]},
            {"metadata": {"k": object()}},
            {"run_at": "tomorrow"},
            {"unique_opts": {"by_nothing": True}},
            {"concurrency_limit": 3},
            {"concurrency_key": "k", "concurrency_limit": 0},
            {"kind": None, "args_dict": True},
            {"queue": b"bytes"},
        ]
    )
)
def test_bad_options_raise_validation_errors(
    sync_client: awa.Client, db: psycopg.Connection, bad: dict[str, Any]
) -> None:
    before = job_count(db)
    options = {k: v for k, v in bad.items() if k != "args_dict"}
    options.setdefault("kind", "fuzz")
    if "args_dict" in bad:
        options.pop("kind")
    with pytest.raises(awa.ValidationError):
        sync_client.insert({"a": 1}, **options)
    assert job_count(db) == before


@dataclass
class Tick:
    n: int = 0


cron_fields = st.sampled_from(["*", "*/5", "0", "59", "1-5", "MON", "60", "-1", "a", "", "*/0"])
valid_crons = st.sampled_from(["*/5 * * * *", "0 9 * * MON-FRI", "* * * * * *", "0 0 1 * *"])
cron_exprs = (
    valid_crons
    | valid_crons
    | st.builds(" ".join, st.lists(cron_fields, min_size=0, max_size=7))
    | wild_text
)
valid_zones = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])
zones = valid_zones | valid_zones | st.just("../../etc/passwd") | wild_text


@FUZZ
@given(
    name=names, cron=cron_exprs, zone=zones, policy=st.sampled_from(["coalesce", "catch_up", "x"])
)
def test_periodic_declarations_accept_or_refuse_cleanly(
    name: str, cron: str, zone: str, policy: str
) -> None:
    client = awa.Client("postgresql://nobody@127.0.0.1:1/nowhere")
    try:
        job = client.periodic(name, cron, Tick, Tick(), timezone=zone, missed_fire_policy=policy)
    except awa.ValidationError:
        event("refused")
        return
    finally:
        client.close()
    event("declared")
    assert job.name == name


start_values = (
    st.floats(0.5, 100)
    | st.integers(1, 64)
    | st.none()
    | st.booleans()
    | st.integers(-5, 10**7)
    | st.floats()
    | wild_text
    | st.lists(st.integers(), max_size=3)
)


@FUZZ
@given(
    queues=st.lists(
        clean_names
        | clean_names
        | st.tuples(clean_names, start_values)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "max_workers",
                    "deadline",
                    "rate_limit",
                    "poll_interval",
                    "weight",
                    "bogus",
                ]
            ),
            start_values,
        ),
        max_size=3,
    ),
    options=st.dictionaries(
        st.sampled_from(
            [
                "heartbeat_interval",
                "heartbeat_staleness",
                "listen",
                "listen_probe_timeout",
                "global_max_workers",
                "drain_timeout",
                "completion_batch_size",
                "nonsense",
            ]
        ),
        start_values,
        max_size=2,
    ),
)
def test_worker_options_are_accepted_or_refused_with_config_error(
    queues: list[Any], options: dict[str, Any]
) -> None:
    try:
        config = parse_runtime(queues, options)
    except awa.ConfigError:
        event("refused")
        return
    event("accepted")
    assert config.queues
