"""NOTIFY channel names (must match ``awa.queue_channel`` in the schema)."""

from __future__ import annotations

import hashlib

CANCEL_CHANNEL = "awa:cancel"
DEFERRED_CHANNEL = "awa:deferred"
_MAX_QUEUE_BYTES = 59  # 63-byte identifier limit minus the "awa:" prefix


def queue_channel(queue: str) -> str:
    """The channel a queue's wake-ups are sent on."""
    if len(queue.encode()) <= _MAX_QUEUE_BYTES:
        return "awa:" + queue
    return "awa:#" + hashlib.md5(queue.encode(), usedforsecurity=False).hexdigest()
