from __future__ import annotations

import pytest

import awa
from awa.callbacks import callback_url, sign, signed_headers, verify

SECRET = "awa-test-secret-0123456789abcdef"
CALLBACK = "6f1c0e2a-9d3b-4c7e-8a55-0b1d2e3f4a5b"
BODY = b'{"payload":{"ok":true}}'


def test_published_test_vector() -> None:
    expected = "811703d7cf4eb9635714d9e47a47f51133d2671bbbcf0a1d548fcfa58aaa94e0"
    assert sign(SECRET, CALLBACK, 1700000000, BODY) == expected
    assert expected in awa.callbacks.__doc__


def test_verify_accepts_a_fresh_signature_only() -> None:
    headers = signed_headers(SECRET, CALLBACK, BODY, timestamp=1700000000)
    ts, sig = headers["X-Awa-Timestamp"], headers["X-Awa-Signature"]
    assert verify(SECRET, CALLBACK, ts, BODY, sig, now=1700000100)
    assert not verify(SECRET, CALLBACK, ts, BODY, sig, now=1700000400)  # replayed too late
    assert not verify(SECRET, CALLBACK, ts, b'{"payload":{"ok":false}}', sig, now=1700000000)
    assert not verify(SECRET, "00000000-0000-0000-0000-000000000000", ts, BODY, sig, now=1700000000)
    assert not verify("another-secret-0123456789", CALLBACK, ts, BODY, sig, now=1700000000)
    assert not verify(SECRET, CALLBACK, None, BODY, sig)
    assert not verify(SECRET, CALLBACK, "soon", BODY, sig)
    assert not verify(SECRET, CALLBACK, ts, BODY, None)


def test_callback_url_and_bad_input() -> None:
    assert (
        callback_url("https://jobs.example.com/", CALLBACK, "complete")
        == f"https://jobs.example.com/api/callbacks/{CALLBACK}/complete"
    )
    assert callback_url("http://h", CALLBACK, "fail", prefix="hooks/").endswith(
        f"/hooks/{CALLBACK}/fail"
    )
    with pytest.raises(awa.ValidationError):
        callback_url("http://h", CALLBACK, "explode")
    with pytest.raises(awa.ValidationError):
        sign("short", CALLBACK, 1, BODY)
