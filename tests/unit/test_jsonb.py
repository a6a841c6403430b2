"""awa's jsonb decoder: the same values as json.loads, fresh objects every time."""

from __future__ import annotations

import json

import pytest

from awa._db.jsonb import loads


@pytest.mark.parametrize(
    "text",
    [b"{}", b"[]", b"{ }", b"[ ]", b'{"a": [1, 2.5, null, true]}', b'"{}"', b"null", b"0"],
)
def test_decodes_like_json_loads(text: bytes) -> None:
    assert loads(text) == json.loads(text)
    assert type(loads(text)) is type(json.loads(text))


def test_empty_containers_are_fresh_objects() -> None:
    first, second = loads(b"{}"), loads(b"{}")
    first["changed"] = True
    assert second == {}
    assert loads(b"{}") == {}
    assert loads(b"[]") is not loads(b"[]")


def test_invalid_json_still_raises() -> None:
    with pytest.raises(json.JSONDecodeError):
        loads(b"{")
