"""Signing callback requests, for the system that calls awa back.

A request to ``POST {prefix}/{callback_id}/{action}`` carries two headers:

``X-Awa-Timestamp``
    Unix time in seconds when it was signed.
``X-Awa-Signature``
    Hex of BLAKE3 in keyed mode over ``awa-callback-v1\\n{callback_id}\\n
    {timestamp}\\n`` followed by the exact body bytes. The 32-byte key is
    derived from your secret with BLAKE3's key derivation (context
    ``awa callback signing v1``), so any secret of 16 bytes or more works.

The receiver refuses a signature that doesn't match, or a timestamp more
than ``window`` seconds (default 300) away from its clock. Unlike upstream
awa's, the signature covers the body and the time, so a captured request
can't be replayed with another payload, nor long after; replaying the same
request within the window is harmless: a callback resolves at most once.

Test vector (``tests/unit/test_callback_signing.py``):
secret ``awa-test-secret-0123456789abcdef``, callback id
``6f1c0e2a-9d3b-4c7e-8a55-0b1d2e3f4a5b``, timestamp ``1700000000``, body
``{"payload":{"ok":true}}`` gives
``811703d7cf4eb9635714d9e47a47f51133d2671bbbcf0a1d548fcfa58aaa94e0``.
"""

from __future__ import annotations

import hmac
import time
import uuid

from blake3 import blake3

from awa.errors import ValidationError

__all__ = (
    "ACTIONS",
    "DEFAULT_PATH_PREFIX",
    "DEFAULT_WINDOW",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "callback_url",
    "sign",
    "signed_headers",
    "verify",
)

SIGNATURE_HEADER = "X-Awa-Signature"
TIMESTAMP_HEADER = "X-Awa-Timestamp"
DEFAULT_PATH_PREFIX = "/api/callbacks"
DEFAULT_WINDOW = 300
ACTIONS = ("complete", "fail", "heartbeat", "resume")
_CONTEXT = "awa callback signing v1"
_MIN_SECRET_BYTES = 16


def _key(secret: bytes | str) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else secret
    if not isinstance(raw, bytes) or len(raw) < _MIN_SECRET_BYTES:
        raise ValidationError(f"secret: at least {_MIN_SECRET_BYTES} bytes", field="secret")
    return blake3(raw, derive_key_context=_CONTEXT).digest()


def _message(callback_id: str | uuid.UUID, timestamp: int, body: bytes) -> bytes:
    return f"awa-callback-v1\n{callback_id}\n{timestamp}\n".encode() + body


def sign(secret: bytes | str, callback_id: str | uuid.UUID, timestamp: int, body: bytes) -> str:
    """The hex signature of one request."""
    return blake3(_message(callback_id, int(timestamp), body), key=_key(secret)).hexdigest()


def signed_headers(
    secret: bytes | str, callback_id: str | uuid.UUID, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The two headers to send with ``body``."""
    when = int(time.time()) if timestamp is None else int(timestamp)
    return {TIMESTAMP_HEADER: str(when), SIGNATURE_HEADER: sign(secret, callback_id, when, body)}


def verify(
    secret: bytes | str,
    callback_id: str | uuid.UUID,
    timestamp: str | int | None,
    body: bytes,
    signature: str | None,
    *,
    now: float | None = None,
    window: int = DEFAULT_WINDOW,
) -> bool:
    """True when the signature matches and the timestamp is within the window."""
    if timestamp is None or signature is None:
        return False
    try:
        when = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - when) > window:
        return False
    expected = sign(secret, callback_id, when, body)
    return hmac.compare_digest(expected, signature.strip().lower())


def callback_url(
    base_url: str, callback_id: str | uuid.UUID, action: str, *, prefix: str = DEFAULT_PATH_PREFIX
) -> str:
    """``{base_url}{prefix}/{callback_id}/{action}``, slashes normalised."""
    if action not in ACTIONS:
        raise ValidationError(f"action: one of {', '.join(ACTIONS)}", field="action")
    path = "/" + prefix.strip("/") if prefix.strip("/") else ""
    return f"{base_url.rstrip('/')}{path}/{uuid.UUID(str(callback_id))}/{action}"
