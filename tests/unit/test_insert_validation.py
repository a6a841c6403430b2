"""Every validation rule of ``insert`` raises ValidationError naming its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from awa import InsertJob, ValidationError
from awa._model.insert import PayloadLimits, prepare_insert, prepare_many
from tests.helpers import SendEmail

OK: dict[str, Any] = {
    "kind": None,
    "queue": "default",
    "priority": 2,
    "max_attempts": 25,
    "tags": None,
    "metadata": None,
    "run_at": None,
    "unique_opts": None,
}


def prepare(args: Any = None, **changes: Any) -> Any:
    return prepare_insert(
        SendEmail("a", "b") if args is None else args,
        **{**OK, **changes},
        limits=PayloadLimits(max_args_bytes=10_000, max_metadata_bytes=1000),
    )


def test_defaults_produce_a_row() -> None:
    row = prepare()
    assert (row.kind, row.queue, row.priority, row.max_attempts) == ("send_email", "default", 2, 25)
    assert row.args == '{"to":"a","subject":"b"}'


BAD_CASES = [
    ("priority", {"priority": 0}),
    ("priority", {"priority": 5}),
    ("priority", {"priority": True}),
    ("priority", {"priority": "1"}),
    ("max_attempts", {"max_attempts": 0}),
    ("max_attempts", {"max_attempts": 1001}),
    ("queue", {"queue": ""}),
    ("queue", {"queue": "q" * 201}),
    ("queue", {"queue": "a\x00b"}),
    ("queue", {"queue": 7}),
    ("kind", {"kind": "k" * 201}),
    ("kind", {"kind": "bad\nkind"}),
    ("tags", {"tags": [f"t{i}" for i in range(21)]}),
    ("tags", {"tags": "not-a-list"}),
    ("tags", {"tags": ["ok", "no\x00"]}),
    ("tags", {"tags": ["ok", 3]}),
    ("metadata", {"metadata": {"a": "\x00"}}),
    ("metadata", {"metadata": {"big": "x" * 2000}}),
    ("metadata", {"metadata": ["not", "an", "object"]}),
    ("run_at", {"run_at": datetime(2030, 1, 1)}),  # naive
    ("run_at", {"run_at": "2030-01-01"}),
    ("unique_opts", {"unique_opts": {"by_queeu": True}}),
]


@pytest.mark.parametrize(
    ("field", "changes"), BAD_CASES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_CASES)]
)
def test_each_rule_rejects_with_its_field(field: str, changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        prepare(**changes)
    assert caught.value.field == field or field in str(caught.value)


@pytest.mark.parametrize(
    "args",
    [{"a": 1}, [1], "s", 1, None.__class__, {"nul": "\x00"}, {"x": "y" * 20_000}],
)
def test_bad_args_are_rejected(args: Any) -> None:
    with pytest.raises(ValidationError):
        prepare(args)


def test_dict_args_need_a_kind() -> None:
    with pytest.raises(ValidationError, match="kind"):
        prepare({"a": 1})
    assert prepare({"a": 1}, kind="custom").kind == "custom"


def test_run_at_forms() -> None:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    assert prepare(run_at=at).run_at == at
    assert prepare(run_at=timedelta(minutes=5)).delay == timedelta(minutes=5)


def test_insert_many_names_the_bad_index() -> None:
    with pytest.raises(ValidationError, match=r"jobs\[1\]"):
        prepare_many(
            [SendEmail("a", "b"), InsertJob(SendEmail("c", "d"), priority=9)],
            **OK,
            limits=PayloadLimits(),
        )
    with pytest.raises(ValidationError, match="list"):
        prepare_many({"a": 1}, **OK, limits=PayloadLimits())  # type: ignore[arg-type]


def test_payload_limits_are_validated() -> None:
    with pytest.raises(ValidationError):
        PayloadLimits(max_args_bytes=0)
