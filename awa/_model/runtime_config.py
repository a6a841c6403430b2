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
from awa.errors import ConfigError, ValidationError


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
        rate_limit: ``(max_rate, burst)``: claims per second, and how many
            may be saved up (0 = ``ceil(max_rate)``); None = unlimited.
        rate_limit_scope: ``"process"`` (each worker process its own
            bucket) or ``"fleet"`` (one bucket in PostgreSQL for every process).
        min_workers / weight: weighted mode (``global_max_workers``): slots
            reserved for this queue, and its share of the rest.
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
    rate_limit: tuple[float, int] | None = None
    rate_limit_scope: str = "process"
    min_workers: int = 0
    weight: int = 1


def _rate_limit(value: object, name: str) -> tuple[float, int] | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = (value, 0)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ConfigError(
            f"{name}.rate_limit: expected (max_rate, burst), e.g. (50, 10)", field="rate_limit"
        )
    rate, burst = value
    if (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not math.isfinite(rate)
        or rate <= 0
    ):
        raise ConfigError(f"{name}.rate_limit: max_rate must be > 0", field="rate_limit")
    burst = count(burst, f"{name}.rate_limit burst", low=0, high=1_000_000)
    return float(rate), burst or max(1, math.ceil(rate))


_QUEUE_KEYS = {f.name for f in attrs.fields(QueueConfig)}


def queue_fields(value: object) -> dict[str, Any]:
    """The fields given for one queue (before defaults)."""
    if isinstance(value, QueueConfig):
        raw: dict[str, Any] = attrs.asdict(value, retain_collection_types=True)
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
    return raw


def parse_queue(value: object) -> QueueConfig:
    """A queue given as ``"name"``, ``("name", max_workers)``, a dict or a QueueConfig."""
    raw = queue_fields(value)
    try:
        name = check_queue(raw["name"])
    except ConfigError:
        raise
    except ValidationError as exc:
        raise ConfigError(str(exc), field="queues") from None
    scope = raw.get("rate_limit_scope", "process")
    if scope not in ("process", "fleet"):
        raise ConfigError(
            f"{name}.rate_limit_scope: expected 'process' or 'fleet'", field="rate_limit_scope"
        )
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
        rate_limit=_rate_limit(raw.get("rate_limit"), name),
        rate_limit_scope=scope,
        min_workers=count(raw.get("min_workers", 0), f"{name}.min_workers", low=0, high=10_000),
        weight=count(raw.get("weight", 1), f"{name}.weight", low=1, high=10_000),
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
    promote_interval: float = 0.05
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
    depth_refresh_interval: float = 2.0
    global_max_workers: int | None = None
    finalize_timeout: float = 30.0
    listen: bool = True
    listen_probe_timeout: float = 3.0
    emit_spec_trace: str | None = None
    telemetry: bool = True
    queue_metrics_interval: float = 15.0
    health_host: str = "127.0.0.1"
    health_port: int | None = None


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
    fields = [queue_fields(q) for q in queues]
    parsed = tuple(parse_queue(f) for f in fields)
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
        elif key in ("keep_completed", "listen", "telemetry"):
            if not isinstance(value, bool):
                raise ConfigError(f"{key}: expected a bool", field=key)
            values[key] = value
        elif key == "global_max_workers":
            values[key] = None if value is None else count(value, key, high=100_000)
        elif key == "health_port":
            values[key] = None if value is None else count(value, key, low=0, high=65535)
        elif key == "health_host":
            if not isinstance(value, str) or not value or "\x00" in value:
                raise ConfigError("health_host: expected a host name or address", field=key)
            values[key] = value
        elif key == "emit_spec_trace":
            if value is not None and not isinstance(value, str):
                raise ConfigError("emit_spec_trace: a file path or None", field=key)
            values[key] = value
        elif key == "listen_probe_timeout":
            values[key] = seconds(value, key, allow_zero=True)
        else:
            values[key] = seconds(value, key)
    config = RuntimeConfig(queues=parsed, **values)
    _check_weighted(config, fields)
    if config.heartbeat_staleness < 2 * config.heartbeat_interval:
        raise ConfigError(
            "heartbeat_staleness must be at least twice heartbeat_interval"
            f" ({config.heartbeat_staleness} < 2 x {config.heartbeat_interval}),"
            " or live jobs would be rescued",
            field="heartbeat_staleness",
        )
    return config


def _check_weighted(config: RuntimeConfig, fields: list[dict[str, Any]]) -> None:
    weighted = config.global_max_workers is not None
    for raw in fields:
        name = raw["name"]
        if weighted and "max_workers" in raw:
            raise ConfigError(
                f"{name}: with global_max_workers, give queues min_workers/weight"
                " (dicts), not max_workers",
                field="max_workers",
            )
        if not weighted and ("min_workers" in raw or "weight" in raw):
            raise ConfigError(
                f"{name}: min_workers/weight need global_max_workers", field="global_max_workers"
            )
    if weighted:
        floors = sum(q.min_workers for q in config.queues)
        assert config.global_max_workers is not None
        if floors > config.global_max_workers:
            raise ConfigError(
                f"the queues' min_workers add up to {floors},"
                f" more than global_max_workers ({config.global_max_workers})",
                field="min_workers",
            )
