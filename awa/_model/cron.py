"""Cron schedules: parsing, time zones, and which fire times are due.

Expressions have 5 fields (minute hour day month weekday) or 6 with seconds
first (``*/15 * * * * *``), as upstream awa; ``@hourly``-style aliases work.
Times are computed in the schedule's IANA zone and returned in UTC. Across
DST changes: a fire time inside a skipped hour happens when the clock jumps
past it; a fixed-hour schedule fires once in a repeated hour, an hourly
(``*`` hour) one fires in both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from croniter import croniter

from awa._model.codec import encode_object
from awa._model.insert import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_PRIORITY,
    DEFAULT_QUEUE,
    PayloadLimits,
    check_max_attempts,
    check_name,
    check_priority,
    check_queue,
    check_tags,
    kind_of,
)
from awa._model.kinds import derive_kind
from awa.errors import ValidationError

MissedFirePolicy = Literal["coalesce", "catch_up"]
MAX_CATCH_UP = 1000


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ValidationError("timezone: expected an IANA zone name", field="timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name too long for a file name (ZoneInfo looks for a file)
        raise ValidationError(f"timezone: unknown zone {name[:100]!r}", field="timezone") from None


@attrs.frozen
class CronSchedule:
    """A validated expression in a zone."""

    expr: str
    timezone: str

    @classmethod
    def parse(cls, expr: object, timezone: object = "UTC") -> CronSchedule:
        if not isinstance(expr, str) or not expr.strip():
            raise ValidationError("cron_expr: expected a cron expression", field="cron_expr")
        expr = " ".join(expr.split())
        _zone(timezone)
        fields = expr.split()
        if not expr.startswith("@") and len(fields) not in (5, 6):
            raise ValidationError(
                f"cron_expr: {expr!r} has {len(fields)} fields;"
                " expected 5, or 6 with seconds first",
                field="cron_expr",
            )
        if not croniter.is_valid(expr, second_at_beginning=len(fields) == 6):
            raise ValidationError(
                f"cron_expr: {expr!r} is not a valid expression", field="cron_expr"
            )
        return cls(expr, str(timezone))

    @property
    def _six_fields(self) -> bool:
        return len(self.expr.split()) == 6

    @property
    def _fixed_hour(self) -> bool:
        fields = self.expr.split()
        if self.expr.startswith("@"):
            return self.expr not in ("@hourly",)
        hour = fields[2] if self._six_fields else fields[1]
        return "*" not in hour

    def _iterate(self, after: datetime) -> Any:
        zone = ZoneInfo(self.timezone)
        return croniter(self.expr, after.astimezone(zone), second_at_beginning=self._six_fields)

    def _second_occurrence(self, moment: datetime) -> bool:
        """True for the repeat of an ambiguous wall-clock time (DST fall-back)."""
        zone = ZoneInfo(self.timezone)
        wall = moment.astimezone(zone).replace(tzinfo=None)
        first = wall.replace(tzinfo=zone, fold=0).utcoffset()
        second = wall.replace(tzinfo=zone, fold=1).utcoffset()
        return first != second and moment.astimezone(zone).utcoffset() == second

    def fires(self, after: datetime, until: datetime, limit: int = MAX_CATCH_UP) -> list[datetime]:
        """Fire times in ``(after, until]``, oldest first, at most ``limit``."""
        found: list[datetime] = []
        iterator = self._iterate(after)
        while len(found) < limit:
            moment: datetime = iterator.get_next(datetime)
            if moment > until:
                break
            if self._fixed_hour and self._second_occurrence(moment):
                continue
            found.append(moment.astimezone(UTC))
        return found

    def next_fire(self, after: datetime) -> datetime:
        iterator = self._iterate(after)
        while True:
            moment: datetime = iterator.get_next(datetime)
            if not (self._fixed_hour and self._second_occurrence(moment)):
                return moment.astimezone(UTC)


def due_fires(
    schedule: CronSchedule,
    *,
    last: datetime | None,
    created: datetime,
    now: datetime,
    policy: str,
) -> list[datetime]:
    """The fires to enqueue now: every due one (catch_up, at most 1000 per
    pass) or only the latest (coalesce, and always for a first fire)."""
    start = last if last is not None else created - timedelta(microseconds=1)
    if policy == "catch_up" and last is not None:
        return schedule.fires(start, now, MAX_CATCH_UP)
    fires = schedule.fires(start, now, MAX_CATCH_UP * 100)
    return fires[-1:]


@attrs.frozen(kw_only=True)
class PeriodicJob:
    """A declared schedule: what to enqueue, and when."""

    name: str
    schedule: CronSchedule
    kind: str
    queue: str
    args: str
    priority: int
    max_attempts: int
    tags: tuple[str, ...]
    metadata: str
    missed_fire_policy: MissedFirePolicy


def make_periodic(
    name: object,
    cron_expr: object,
    args_type: Any,
    args: Any,
    *,
    timezone: object = "UTC",
    queue: object = DEFAULT_QUEUE,
    priority: object = DEFAULT_PRIORITY,
    max_attempts: object = DEFAULT_MAX_ATTEMPTS,
    tags: object = None,
    metadata: object = None,
    missed_fire_policy: object = "coalesce",
    kind: str | None = None,
    limits: PayloadLimits | None = None,
) -> PeriodicJob:
    """Validate a ``periodic()`` declaration; raise ``ValidationError`` at once."""
    limits = limits or PayloadLimits()
    if missed_fire_policy not in ("coalesce", "catch_up"):
        raise ValidationError(
            f"missed_fire_policy: expected 'coalesce' or 'catch_up', got {missed_fire_policy!r}",
            field="missed_fire_policy",
        )
    if args_type is not None and not isinstance(args, dict) and not isinstance(args, args_type):
        raise ValidationError(
            f"args: expected an instance of {getattr(args_type, '__name__', args_type)}",
            field="args",
        )
    if kind is None and isinstance(args_type, type) and args_type is not dict:
        kind = derive_kind(args_type.__name__)
    _, args_text = encode_object(args, field="args", max_bytes=limits.max_args_bytes)
    _, metadata_text = encode_object(
        {} if metadata is None else metadata, field="metadata", max_bytes=limits.max_metadata_bytes
    )
    return PeriodicJob(
        name=check_name(name, "name"),
        schedule=CronSchedule.parse(cron_expr, timezone),
        kind=kind_of(args, kind),
        queue=check_queue(queue),
        args=args_text,
        priority=check_priority(priority),
        max_attempts=check_max_attempts(max_attempts),
        tags=tuple(check_tags(tags)),
        metadata=metadata_text,
        missed_fire_policy=missed_fire_policy,
    )


def periodic_params(job: PeriodicJob) -> dict[str, Any]:
    """Parameters of the ``cron_upsert`` query."""
    return {
        "name": job.name,
        "cron_expr": job.schedule.expr,
        "timezone": job.schedule.timezone,
        "kind": job.kind,
        "queue": job.queue,
        "args": job.args,
        "priority": job.priority,
        "max_attempts": job.max_attempts,
        "tags": list(job.tags),
        "metadata": job.metadata,
        "missed_fire_policy": job.missed_fire_policy,
    }


@attrs.frozen(kw_only=True)
class CronJobInfo:
    """A stored schedule. ``next_fire_at`` is None while paused."""

    name: str
    cron_expr: str
    timezone: str
    kind: str
    queue: str
    args: dict[str, Any]
    priority: int
    max_attempts: int
    tags: tuple[str, ...]
    metadata: dict[str, Any]
    missed_fire_policy: str
    last_enqueued_at: datetime | None
    paused_at: datetime | None
    paused_by: str | None
    created_at: datetime
    updated_at: datetime
    next_fire_at: datetime | None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


def schedule_of(row: Any) -> CronSchedule | None:
    """The row's schedule, or None when the stored expression or zone is invalid."""
    try:
        return CronSchedule.parse(row["cron_expr"], row["timezone"])
    except ValidationError:
        return None


def cron_info_from_row(row: Any) -> CronJobInfo:
    schedule = schedule_of(row)
    next_fire = None
    if schedule is not None and row["paused_at"] is None:
        after = max(row["db_now"], row["last_enqueued_at"] or row["db_now"])
        next_fire = schedule.next_fire(after)
    return CronJobInfo(
        name=row["name"],
        cron_expr=row["cron_expr"],
        timezone=row["timezone"],
        kind=row["kind"],
        queue=row["queue"],
        args=row["args"],
        priority=row["priority"],
        max_attempts=row["max_attempts"],
        tags=tuple(row["tags"]),
        metadata=row["metadata"],
        missed_fire_policy=row["missed_fire_policy"],
        last_enqueued_at=row["last_enqueued_at"],
        paused_at=row["paused_at"],
        paused_by=row["paused_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        next_fire_at=next_fire,
    )
