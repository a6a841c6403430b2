from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from awa import UniqueOpts, ValidationError
from awa._model.unique import parse_unique_opts, period_bucket, unique_key


def test_key_is_16_bytes_and_stable() -> None:
    # Golden vector: BLAKE3 of b"send_email\x00" + canonical JSON, first 16 bytes.
    key = unique_key("send_email", None, {"to": "a@b.c", "subject": "hi"}, None)
    assert len(key) == 16
    assert key.hex() == unique_key("send_email", None, {"subject": "hi", "to": "a@b.c"}, None).hex()


def test_key_bytes_follow_the_upstream_layout() -> None:
    from blake3 import blake3

    expected = blake3(
        b"k\x00q\x00"
        + '{"a":1,"é":"ü"}'.encode()
        + b"\x00"
        + (7).to_bytes(8, "little", signed=True)
    ).digest(length=16)
    assert unique_key("k", "q", {"é": "ü", "a": 1}, 7) == expected


def test_parts_change_the_key() -> None:
    base = unique_key("k", None, {"a": 1}, None)
    assert unique_key("k", "q", {"a": 1}, None) != base
    assert unique_key("k", None, {"a": 2}, None) != base
    assert unique_key("k", None, {"a": 1}, 1) != base
    assert unique_key("j", None, {"a": 1}, None) != base


def test_period_bucket_from_timedelta() -> None:
    at = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    assert period_bucket(timedelta(hours=1), at) == int(at.timestamp() // 3600)
    assert period_bucket(42, at) == 42
    assert period_bucket(None, at) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"by_arg": True},
        {"by_args": "yes"},
        {"by_period": 1.5},
        {"by_period": timedelta(0)},
        {"by_period": 2**70},
        {"states": []},
        "by_args",
    ],
)
def test_bad_unique_opts_are_rejected(bad: object) -> None:
    with pytest.raises(ValidationError):
        parse_unique_opts(bad)


def test_dict_and_object_forms_agree() -> None:
    assert parse_unique_opts({"by_queue": True}) == UniqueOpts(by_queue=True)


def test_golden_vectors_do_not_drift() -> None:
    # Recorded from this implementation; a change here breaks keys already stored.
    args = {"to": "alice@example.com", "subject": "Welcome"}
    assert unique_key("send_email", None, args, None).hex() == "8f28df85757f04fa1defaa2916468a6a"
    assert unique_key("send_email", "email", args, 1).hex() == "1bc762b17e1b79d3497d53f69f6c6804"
