"""What a handler may return to decide its job's next state."""

from __future__ import annotations

from datetime import timedelta

import attrs

from awa.errors import ValidationError


def _seconds(value: object, field: str) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 10**9:
        raise ValidationError(
            f"{field}: expected seconds (a number >= 0) or a timedelta", field=field
        )
    return float(value)


def _retry_seconds(value: object) -> float:
    return _seconds(value, "RetryAfter.seconds")


def _snooze_seconds(value: object) -> float:
    return _seconds(value, "Snooze.seconds")


@attrs.frozen
class RetryAfter:
    """Retry after ``seconds``; uses up an attempt (fails when none are left)."""

    seconds: float = attrs.field(converter=_retry_seconds)


@attrs.frozen
class Snooze:
    """Run again after ``seconds`` without using up an attempt."""

    seconds: float = attrs.field(converter=_snooze_seconds)


@attrs.frozen
class Cancel:
    """Stop for good: the job becomes cancelled."""

    reason: str = "cancelled by handler"
