"""Unique keys: BLAKE3 of a job's identity, truncated to 16 bytes.

Input bytes: ``kind``, then ``0x00 + queue`` when by queue, ``0x00 +
canonical JSON of args`` when by args, ``0x00 + bucket as 8-byte
little-endian signed int`` when by period. The layout matches upstream awa's
so keys agree across implementations.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import attrs
from blake3 import blake3

from awa._model.codec import canonical_json
from awa._model.states import DEFAULT_UNIQUE_STATES, JobState, states_to_mask
from awa.errors import ValidationError

KEY_BYTES = 16
_INT64 = (-(2**63), 2**63 - 1)


@attrs.frozen
class UniqueOpts:
    """How a job's uniqueness is decided.

    Args:
        by_args: include the args (canonical JSON) in the key.
        by_queue: include the queue in the key.
        by_period: an ``int`` bucket, or a ``timedelta``: jobs whose
            ``run_at`` (else now) falls in the same window of that length
            share a key.
        states: the states in which a job holds its key (default: scheduled,
            available, running, completed, retryable), as states or an int mask.
    """

    by_args: bool = True
    by_queue: bool = False
    by_period: int | timedelta | None = None
    states: frozenset[JobState] | int = DEFAULT_UNIQUE_STATES


_OPTION_NAMES = ("by_args", "by_queue", "by_period", "states")


def parse_unique_opts(value: object) -> UniqueOpts:
    """Accept ``UniqueOpts`` or a dict with its field names; reject the rest."""
    if isinstance(value, UniqueOpts):
        opts = value
    elif isinstance(value, dict):
        unknown = sorted(set(value) - set(_OPTION_NAMES))
        if unknown:
            raise ValidationError(
                f"unique_opts: unknown option(s) {', '.join(map(repr, unknown))}"
                f" (known: {', '.join(_OPTION_NAMES)})",
                field="unique_opts",
            )
        opts = UniqueOpts(**value)
    else:
        raise ValidationError(
            f"unique_opts: expected UniqueOpts or dict, got {type(value).__name__}",
            field="unique_opts",
        )
    for name in ("by_args", "by_queue"):
        if not isinstance(getattr(opts, name), bool):
            raise ValidationError(f"unique_opts.{name}: must be a bool", field="unique_opts")
    period = opts.by_period
    if period is not None and not isinstance(period, timedelta):
        if isinstance(period, bool) or not isinstance(period, int):
            raise ValidationError(
                "unique_opts.by_period: an int bucket or a timedelta", field="unique_opts"
            )
        if not _INT64[0] <= period <= _INT64[1]:
            raise ValidationError(
                "unique_opts.by_period: bucket out of 64-bit range", field="unique_opts"
            )
    if isinstance(period, timedelta) and period.total_seconds() <= 0:
        raise ValidationError("unique_opts.by_period: must be positive", field="unique_opts")
    states_to_mask(opts.states)  # validates
    return opts


def period_bucket(period: int | timedelta | None, at: datetime) -> int | None:
    if period is None or isinstance(period, int):
        return period
    return math.floor(at.timestamp() / period.total_seconds())


def unique_key(
    kind: str,
    queue: str | None,
    args: dict[str, Any] | None,
    bucket: int | None,
) -> bytes:
    """The 16-byte key. ``None`` parts are left out."""
    hasher = blake3(kind.encode())
    if queue is not None:
        hasher.update(b"\x00" + queue.encode())
    if args is not None:
        hasher.update(b"\x00" + canonical_json(args).encode())
    if bucket is not None:
        hasher.update(b"\x00" + bucket.to_bytes(8, "little", signed=True))
    return hasher.digest(length=KEY_BYTES)
