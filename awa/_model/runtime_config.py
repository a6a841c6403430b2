"""Worker runtime configuration: per-queue settings and service intervals.

All durations are seconds (a number or a ``timedelta``). Defaults follow
upstream awa unless noted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from awa._model.insert import check_queue
from awa.errors import ConfigError


def seconds(value: object, field: str, *, allow_zero: bool = False) -> float:
    """A duration in seconds; ``timedelta`` accepted. Rejects bools, NaN, negatives."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{field}: expected seconds (a number) or a timedelta", field=field)
    if value < 0 or (value == 0 and not allow_zero):
        limit = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{field}: must be {limit}, got {value}", field=field)
    return float(value)


def count(value: object, field: str, *, low: int = 1, high: int = 100_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{field}: expected an int in {low}..{high}", field=field)
    return value


@attrs.frozen(kw_only=True)
class QueueConfig:
    """How one queue is worked.

    Args:
        name: the queue.
        max_workers: jobs of this queue running at once in this process.
        poll_interval: seconds between claims while LISTEN/NOTIFY is unavailable.
        safety_poll_interval: seconds between claims while LISTEN works (a
            safety net: every path that makes a job available notifies).
        deadline: seconds a job may run before it is cancelled and retried
            (0 = no deadline).
        claim_batch_size: most jobs claimed per round trip.
        priority_aging_interval: every this many seconds of waiting, an
            available job's priority improves by one (0 = never).
        completed_retention / failed_retention: per-queue overrides of how
            long finished jobs are kept (None = the runtime's setting).
    """

    name: str
    max_workers: int = 10
    poll_interval: float = 0.2
    safety_poll_interval: float = 5.0
    deadline: float = 300.0
    claim_batch_size: int = 64
    priority_aging_interval: float = 60.0
    completed_retention: float | None = None
    failed_retention: float | None = None


_QUEUE_KEYS = {f.name for f in attrs.fields(QueueConfig)}


def parse_queue(value: object) -> QueueConfig:
    """A queue given as ``"name"``, ``("name", max_workers)``, a dict or a QueueConfig."""
    if isinstance(value, QueueConfig):
        raw: dict[str, Any] = attrs.asdict(value)
    elif isinstance(value, str):
        raw = {"name": value}
    elif isinstance(value, tuple) and len(value) == 2:
        raw = {"name": value[0], "max_workers": value[1]}
    elif isinstance(value, Mapping):
        raw = dict(value)
        unknown = sorted(set(raw) - _QUEUE_KEYS)
        if unknown:
            raise ConfigError(
                f"queue option(s) {', '.join(map(repr, unknown))} unknown"
                f" (known: {', '.join(sorted(_QUEUE_KEYS))})",
                field="queues",
            )
        if "name" not in raw:
            raise ConfigError("queue dict needs a 'name'", field="queues")
    else:
        raise ConfigError(
            f"queues: expected names, (name, max_workers) tuples or dicts, got {value!r}",
            field="queues",
        )
    name = check_queue(raw["name"])
    retention = {
        key: None if raw.get(key) is None else seconds(raw[key], f"{name}.{key}")
        for key in ("completed_retention", "failed_retention")
    }
    return QueueConfig(
        name=name,
        max_workers=count(raw.get("max_workers", 10), f"{name}.max_workers", high=10_000),
        poll_interval=seconds(raw.get("poll_interval", 0.2), f"{name}.poll_interval"),
        safety_poll_interval=seconds(
            raw.get("safety_poll_interval", 5.0), f"{name}.safety_poll_interval"
        ),
        deadline=seconds(raw.get("deadline", 300.0), f"{name}.deadline", allow_zero=True),
        claim_batch_size=count(
            raw.get("claim_batch_size", 64), f"{name}.claim_batch_size", high=4096
        ),
        priority_aging_interval=seconds(
            raw.get("priority_aging_interval", 60.0),
            f"{name}.priority_aging_interval",
            allow_zero=True,
        ),
        **retention,
    )


@attrs.frozen(kw_only=True)
class RuntimeConfig:
    """Service settings for one worker process (seconds)."""

    queues: tuple[QueueConfig, ...]
    heartbeat_interval: float = 30.0
    heartbeat_staleness: float = 90.0
    drain_timeout: float = 30.0
    completion_batch_size: int = 512
    promote_interval: float = 0.25
    promote_batch_size: int = 4096
    rescue_interval: float = 30.0
    rescue_batch_size: int = 500
    cleanup_interval: float = 60.0
    completed_retention: float = 24 * 3600.0
    failed_retention: float = 72 * 3600.0
    keep_completed: bool = True
    leader_election_interval: float = 10.0
    leader_check_interval: float = 30.0
    snapshot_interval: float = 10.0
    aging_interval: float = 60.0
    cron_sync_interval: float = 60.0
    finalize_timeout: float = 30.0
    listen: bool = True
    emit_spec_trace: str | None = None


_RUNTIME_KEYS = {f.name for f in attrs.fields(RuntimeConfig)} - {"queues"}
_COUNTS = {
    "completion_batch_size": 100_000,
    "promote_batch_size": 100_000,
    "rescue_batch_size": 100_000,
}


def parse_runtime(queues: Iterable[object], options: Mapping[str, Any]) -> RuntimeConfig:
    """Validate ``start()``'s arguments; raise ``ConfigError`` on the first problem."""
    unknown = sorted(set(options) - _RUNTIME_KEYS)
    if unknown:
        raise ConfigError(f"unknown runtime option(s): {', '.join(unknown)}", field=unknown[0])
    if isinstance(queues, str | bytes) or not isinstance(queues, Iterable):
        raise ConfigError("queues: expected a list", field="queues")
    parsed = tuple(parse_queue(q) for q in queues)
    if not parsed:
        raise ConfigError("queues: give at least one queue to work", field="queues")
    names = [q.name for q in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"queues: listed more than once: {', '.join(duplicates)}", field="queues")
    values: dict[str, Any] = {}
    for key, value in options.items():
        if key in _COUNTS:
            values[key] = count(value, key, high=_COUNTS[key])
        elif key in ("keep_completed", "listen"):
            if not isinstance(value, bool):
                raise ConfigError(f"{key}: expected a bool", field=key)
            values[key] = value
        elif key == "emit_spec_trace":
            if value is not None and not isinstance(value, str):
                raise ConfigError("emit_spec_trace: a file path or None", field=key)
            values[key] = value
        else:
            values[key] = seconds(value, key)
    config = RuntimeConfig(queues=parsed, **values)
    if config.heartbeat_staleness < 2 * config.heartbeat_interval:
        raise ConfigError(
            "heartbeat_staleness must be at least twice heartbeat_interval"
            f" ({config.heartbeat_staleness} < 2 x {config.heartbeat_interval}),"
            " or live jobs would be rescued",
            field="heartbeat_staleness",
        )
    return config
