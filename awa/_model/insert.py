"""Validating insert options and turning args into a row to write."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from awa._model.codec import encode_object
from awa._model.instrumentation import capture_trace, with_trace
from awa._model.job import Job
from awa._model.kinds import derive_kind
from awa._model.states import JobState, mask_to_states, states_to_mask
from awa._model.unique import UniqueOpts, parse_unique_opts, period_bucket, unique_key
from awa.errors import ValidationError

DEFAULT_QUEUE = "default"
DEFAULT_PRIORITY = 2
DEFAULT_MAX_ATTEMPTS = 25
MAX_NAME_CHARS = 200
MAX_TAGS = 20
PRIORITY_RANGE = (1, 4)
MAX_ATTEMPTS_RANGE = (1, 1000)
DEFAULT_MAX_ARGS_BYTES = 1024 * 1024
DEFAULT_MAX_METADATA_BYTES = 256 * 1024
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


@attrs.frozen
class PayloadLimits:
    """Size limits on what a job may carry (bytes of JSON)."""

    max_args_bytes: int = DEFAULT_MAX_ARGS_BYTES
    max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES

    def __attrs_post_init__(self) -> None:
        for name in ("max_args_bytes", "max_metadata_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 64:
                raise ValidationError(f"{name}: expected an int >= 64", field=name)


@attrs.frozen
class InsertJob:
    """One job for ``insert_many``: its args plus options that override the call's.

    Options left at ``None`` take the value given to ``insert_many``.
    """

    args: Any
    kind: str | None = None
    queue: str | None = None
    priority: int | None = None
    max_attempts: int | None = None
    tags: Iterable[str] | None = None
    metadata: dict[str, Any] | None = None
    run_at: datetime | timedelta | None = None
    unique_opts: UniqueOpts | dict[str, Any] | None = None
    concurrency_key: str | None = None
    concurrency_limit: int | None = None


@attrs.frozen
class InsertRow:
    """A validated job, ready to be written."""

    kind: str
    queue: str
    args: str
    priority: int
    max_attempts: int
    tags: list[str]
    metadata: str
    run_at: datetime | None
    delay: timedelta | None
    unique_key: bytes | None
    unique_states: str | None
    concurrency_key: str | None = None
    concurrency_limit: int | None = None


def insert_params(row: InsertRow) -> dict[str, Any]:
    """The named parameters of the ``job_insert`` query for one row."""
    return {
        "kind": row.kind,
        "queue": row.queue,
        "args": row.args,
        "priority": row.priority,
        "max_attempts": row.max_attempts,
        "run_at": row.run_at,
        "delay": row.delay,
        "tags": row.tags,
        "metadata": row.metadata,
        "unique_key": row.unique_key,
        "unique_states": row.unique_states,
        "concurrency_key": row.concurrency_key,
        "concurrency_limit": row.concurrency_limit,
    }


def inserted_job(row: InsertRow, written: Mapping[str, Any]) -> Job:
    """The ``Job`` just written from ``row``; ``written`` holds what the
    database decided (id, state, run_at, created_at)."""
    return Job(
        id=written["id"],
        kind=row.kind,
        queue=row.queue,
        args=json.loads(row.args),
        state=JobState(written["state"]),
        priority=row.priority,
        attempt=0,
        max_attempts=row.max_attempts,
        run_at=written["run_at"],
        created_at=written["created_at"],
        tags=tuple(row.tags),
        metadata=json.loads(row.metadata),
        unique_key=row.unique_key,
        unique_states=mask_to_states(row.unique_states) if row.unique_states else None,
        concurrency_key=row.concurrency_key,
        concurrency_limit=row.concurrency_limit,
    )


CONCURRENCY_LIMIT_RANGE = (1, 10000)


def check_concurrency(key: object, limit: object) -> tuple[str | None, int | None]:
    """A concurrency key (a name) and its limit (default 1); a limit needs a key."""
    if key is None:
        if limit is not None:
            raise ValidationError(
                "concurrency_limit: only meaningful with a concurrency_key",
                field="concurrency_limit",
            )
        return None, None
    return (
        check_name(key, "concurrency_key"),
        1 if limit is None else _check_int(limit, "concurrency_limit", CONCURRENCY_LIMIT_RANGE),
    )


def check_name(value: object, field: str) -> str:
    """A kind, queue, tag or label: 1..200 characters, no control characters."""
    if not isinstance(value, str):
        raise ValidationError(
            f"{field}: expected a string, got {type(value).__name__}", field=field
        )
    if not value:
        raise ValidationError(f"{field}: must not be empty", field=field)
    if len(value) > MAX_NAME_CHARS:
        raise ValidationError(
            f"{field}: {len(value)} characters exceeds the limit of {MAX_NAME_CHARS}", field=field
        )
    if _CONTROL_CHARS.search(value):
        raise ValidationError(f"{field}: control characters (and NUL) are not allowed", field=field)
    check_unicode(value, field)
    return value


def check_unicode(value: str, field: str) -> None:
    """Refuse lone surrogates: they can't be stored (not valid UTF-8)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValidationError(
            f"{field}: not valid Unicode (a lone surrogate such as '\\ud800')", field=field
        ) from None


def check_text(value: object, field: str, max_chars: int = 2000) -> str:
    """Free text (reasons, messages): a string without NUL, at most max_chars."""
    if not isinstance(value, str):
        raise ValidationError(
            f"{field}: expected a string, got {type(value).__name__}", field=field
        )
    if "\x00" in value:
        raise ValidationError(f"{field}: NUL characters are not allowed", field=field)
    if len(value) > max_chars:
        raise ValidationError(f"{field}: longer than {max_chars} characters", field=field)
    check_unicode(value, field)
    return value


def check_queue(value: object) -> str:
    return check_name(value, "queue")


def check_kind(value: object) -> str:
    return check_name(value, "kind")


def _check_int(value: object, field: str, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field}: expected an int, got {type(value).__name__}", field=field)
    low, high = bounds
    if not low <= value <= high:
        raise ValidationError(f"{field}: {value} is outside {low}..{high}", field=field)
    return value


def check_priority(value: object) -> int:
    return _check_int(value, "priority", PRIORITY_RANGE)


def check_max_attempts(value: object) -> int:
    return _check_int(value, "max_attempts", MAX_ATTEMPTS_RANGE)


def check_tags(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError("tags: expected a list of strings", field="tags")
    tags = list(value)
    if len(tags) > MAX_TAGS:
        raise ValidationError(
            f"tags: {len(tags)} tags exceeds the limit of {MAX_TAGS}", field="tags"
        )
    for tag in tags:
        check_name(tag, "tags")
    return tags


def check_run_at(value: object) -> tuple[datetime | None, timedelta | None]:
    """Return ``(absolute, relative)``; at most one is set."""
    if value is None:
        return None, None
    if isinstance(value, timedelta):
        return None, value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(
                "run_at: naive datetimes are ambiguous; pass a timezone-aware datetime"
                " (e.g. datetime.now(UTC) + timedelta(minutes=5)) or a timedelta",
                field="run_at",
            )
        return value, None
    raise ValidationError(
        f"run_at: expected a timezone-aware datetime or a timedelta, got {type(value).__name__}",
        field="run_at",
    )


def kind_of(args: object, kind: str | None) -> str:
    """The explicit kind, or one derived from the args class name."""
    if kind is not None:
        return check_kind(kind)
    if isinstance(args, dict):
        raise ValidationError("kind: dict args need an explicit kind=", field="kind")
    if args is None or isinstance(args, str | int | float | bool | list | tuple):
        raise ValidationError(
            f"args: expected a dataclass, attrs class, pydantic model or dict,"
            f" got {type(args).__name__}",
            field="args",
        )
    cls = type(args)
    derived = _DERIVED_KINDS.get(cls)
    if derived is None:
        derived = check_kind(derive_kind(cls.__name__))
        if len(_DERIVED_KINDS) >= 1024:  # classes made on the fly: keep the memo bounded
            _DERIVED_KINDS.clear()
        _DERIVED_KINDS[cls] = derived
    return derived


# Kinds derived from args classes, checked; a program has few such classes.
_DERIVED_KINDS: dict[type, str] = {}


@attrs.frozen
class _Options:
    """Everything about a job but its args and kind, validated."""

    queue: str
    priority: int
    max_attempts: int
    tags: list[str]
    metadata: str
    run_at: datetime | None
    delay: timedelta | None
    unique: UniqueOpts | None
    unique_states: str | None
    concurrency_key: str | None
    concurrency_limit: int | None


def _check_options(
    *,
    queue: str,
    priority: int,
    max_attempts: int,
    tags: Iterable[str] | None,
    metadata: dict[str, Any] | None,
    run_at: datetime | timedelta | None,
    unique_opts: UniqueOpts | dict[str, Any] | None,
    limits: PayloadLimits,
    concurrency_key: str | None,
    concurrency_limit: int | None,
    trace: Mapping[str, str],
) -> _Options:
    metadata = with_trace(metadata, trace)
    job_queue = check_queue(queue)
    if not metadata and isinstance(metadata, dict | None):
        metadata_text = "{}"
    else:
        _, metadata_text = encode_object(
            metadata, field="metadata", max_bytes=limits.max_metadata_bytes
        )
    absolute, relative = check_run_at(run_at)
    key_value, limit_value = check_concurrency(concurrency_key, concurrency_limit)
    opts = None if unique_opts is None else parse_unique_opts(unique_opts)
    return _Options(
        queue=job_queue,
        priority=check_priority(priority),
        max_attempts=check_max_attempts(max_attempts),
        tags=check_tags(tags),
        metadata=metadata_text,
        run_at=absolute,
        delay=relative,
        unique=opts,
        unique_states=None if opts is None else states_to_mask(opts.states),
        concurrency_key=key_value,
        concurrency_limit=limit_value,
    )


def _build_row(args: Any, kind: str | None, options: _Options, limits: PayloadLimits) -> InsertRow:
    job_kind = kind_of(args, kind)
    plain_args, args_text = encode_object(args, field="args", max_bytes=limits.max_args_bytes)
    key: bytes | None = None
    opts = options.unique
    if opts is not None:
        at = options.run_at or datetime.now(UTC) + (options.delay or timedelta())
        key = unique_key(
            job_kind,
            options.queue if opts.by_queue else None,
            plain_args if opts.by_args else None,
            period_bucket(opts.by_period, at),
        )
    return InsertRow(
        kind=job_kind,
        queue=options.queue,
        args=args_text,
        priority=options.priority,
        max_attempts=options.max_attempts,
        tags=options.tags,
        metadata=options.metadata,
        run_at=options.run_at,
        delay=options.delay,
        unique_key=key,
        unique_states=options.unique_states,
        concurrency_key=options.concurrency_key,
        concurrency_limit=options.concurrency_limit,
    )


def prepare_insert(
    args: Any,
    *,
    kind: str | None,
    queue: str,
    priority: int,
    max_attempts: int,
    tags: Iterable[str] | None,
    metadata: dict[str, Any] | None,
    run_at: datetime | timedelta | None,
    unique_opts: UniqueOpts | dict[str, Any] | None,
    limits: PayloadLimits,
    concurrency_key: str | None = None,
    concurrency_limit: int | None = None,
    trace: Mapping[str, str] | None = None,
) -> InsertRow:
    """Validate everything about one job and build the row to write.

    The caller's trace context (``trace``, or read now when ``None``) goes
    into the metadata as ``awa:traceparent`` and the like.
    Raises ``ValidationError`` on the first problem found.
    """
    options = _check_options(
        queue=queue,
        priority=priority,
        max_attempts=max_attempts,
        tags=tags,
        metadata=metadata,
        run_at=run_at,
        unique_opts=unique_opts,
        limits=limits,
        concurrency_key=concurrency_key,
        concurrency_limit=concurrency_limit,
        trace=capture_trace() if trace is None else trace,
    )
    return _build_row(args, kind, options, limits)


def prepare_many(
    jobs: Iterable[Any],
    *,
    kind: str | None,
    queue: str,
    priority: int,
    max_attempts: int,
    tags: Iterable[str] | None,
    metadata: dict[str, Any] | None,
    run_at: datetime | timedelta | None,
    unique_opts: UniqueOpts | dict[str, Any] | None,
    limits: PayloadLimits,
    concurrency_key: str | None = None,
    concurrency_limit: int | None = None,
) -> list[InsertRow]:
    """``prepare_insert`` for each item; ``InsertJob`` items override the defaults.

    The call's own options are checked once, when the first item that uses
    them comes (so an error names that item's index).
    """
    if isinstance(jobs, dict | str | bytes):
        raise ValidationError("jobs: expected a list of args or InsertJob items", field="jobs")
    trace = capture_trace()  # once for the batch
    shared: _Options | None = None
    rows: list[InsertRow] = []
    for index, item in enumerate(jobs):
        try:
            if isinstance(item, InsertJob):
                rows.append(
                    prepare_insert(
                        item.args,
                        kind=item.kind if item.kind is not None else kind,
                        queue=item.queue if item.queue is not None else queue,
                        priority=item.priority if item.priority is not None else priority,
                        max_attempts=(
                            item.max_attempts if item.max_attempts is not None else max_attempts
                        ),
                        tags=item.tags if item.tags is not None else tags,
                        metadata=item.metadata if item.metadata is not None else metadata,
                        run_at=item.run_at if item.run_at is not None else run_at,
                        unique_opts=(
                            item.unique_opts if item.unique_opts is not None else unique_opts
                        ),
                        limits=limits,
                        concurrency_key=(
                            item.concurrency_key
                            if item.concurrency_key is not None
                            else concurrency_key
                        ),
                        concurrency_limit=(
                            item.concurrency_limit
                            if item.concurrency_limit is not None
                            else concurrency_limit
                        ),
                        trace=trace,
                    )
                )
                continue
            if shared is None:
                shared = _check_options(
                    queue=queue,
                    priority=priority,
                    max_attempts=max_attempts,
                    tags=tags,
                    metadata=metadata,
                    run_at=run_at,
                    unique_opts=unique_opts,
                    limits=limits,
                    concurrency_key=concurrency_key,
                    concurrency_limit=concurrency_limit,
                    trace=trace,
                )
            rows.append(_build_row(item, kind, shared, limits))
        except ValidationError as ex:
            raise ValidationError(f"jobs[{index}]: {ex}", field=ex.field) from None
    return rows


@attrs.frozen
class SkippedJob:
    """A job of an ``insert_many`` batch left out because its unique key was taken."""

    index: int
    unique_key: bytes
    existing_job_id: int | None


@attrs.frozen
class InsertManyResult:
    """What ``insert_many`` wrote: job ids in input order (skipped ones left out)."""

    ids: tuple[int, ...]
    skipped: tuple[SkippedJob, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)


ON_UNIQUE_CONFLICT = ("raise", "skip")


def check_on_unique_conflict(value: object) -> str:
    if value not in ON_UNIQUE_CONFLICT:
        raise ValidationError(
            f"on_unique_conflict: expected 'raise' or 'skip', got {value!r}",
            field="on_unique_conflict",
        )
    return str(value)
