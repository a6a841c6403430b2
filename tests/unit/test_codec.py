from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import attrs
import pydantic
import pytest

from awa import ValidationError
from awa._model.codec import encode_object, structure


@dataclasses.dataclass
class Order:
    id: uuid.UUID
    at: datetime
    amount: Decimal
    lines: list[str]


@attrs.frozen
class Refund:
    order: int
    day: date


class Invoice(pydantic.BaseModel):
    number: int
    customer: str


def roundtrip(value: object) -> object:
    plain, text = encode_object(value, field="args", max_bytes=1 << 20)
    assert isinstance(plain, dict)
    import json

    return structure(json.loads(text), type(value))


def test_dataclass_attrs_and_pydantic_round_trip() -> None:
    order = Order(uuid.uuid4(), datetime(2026, 1, 2, 3, 4, tzinfo=UTC), Decimal("9.99"), ["a"])
    assert roundtrip(order) == order
    assert roundtrip(Refund(3, date(2026, 1, 1))) == Refund(3, date(2026, 1, 1))
    assert roundtrip(Invoice(number=1, customer="c")) == Invoice(number=1, customer="c")


def test_dicts_pass_through_and_may_hold_rich_values() -> None:
    plain, text = encode_object({"a": [1, 2], "b": "é"}, field="args", max_bytes=1000)
    assert text == '{"a":[1,2],"b":"é"}'
    plain, text = encode_object({"when": date(2026, 1, 1)}, field="args", max_bytes=1000)
    assert plain == {"when": "2026-01-01"}


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"a": "x\x00y"}, "NUL"),
        ({"a\x00": 1}, "NUL"),
        ({"a": float("nan")}, "JSON"),
        ({"a": object()}, "JSON"),
        ([1, 2], "JSON object"),
        ("text", "JSON object"),
        ({"big": "x" * 2000}, "exceeds"),
    ],
)
def test_bad_payloads_are_rejected(value: object, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        encode_object(value, field="args", max_bytes=1000)


def test_escaped_backslash_u0000_is_not_mistaken_for_nul() -> None:
    _, text = encode_object({"a": "\\u0000"}, field="args", max_bytes=1000)
    assert "\\\\u0000" in text


def test_structure_reports_mismatches_as_validation_errors() -> None:
    with pytest.raises(ValidationError, match="Refund"):
        structure({"order": "not-an-int"}, Refund)
