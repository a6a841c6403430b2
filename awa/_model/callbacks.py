"""Callbacks: tokens, parking, and CEL rules deciding what a callback does.

A callback may carry CEL expressions (https://cel.dev), evaluated by the
``cel-python`` library with one variable, ``payload`` (the JSON body, or
null). They are checked when registered: a syntax error, or a reference to
any other name, is a ``ValidationError``. ``resolve_callback`` then decides:

1. ``filter`` true goes on, false ignores the callback (the job keeps
   waiting). An error while evaluating it also ignores it (fail closed).
2. ``on_fail`` true fails the job. An error counts as false.
3. ``on_complete`` true completes the job. An error counts as false.
4. Nothing matched: ``default_action`` (``"complete"``, ``"fail"`` or
   ``"ignore"``).
5. ``transform`` rewrites the payload of a completion; an error (or a result
   JSON can't hold) keeps the payload as received.

Every evaluation error is reported in ``ResolveResult.errors`` and logged.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import attrs
import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel

from awa._model.insert import check_text
from awa._model.job import Job
from awa.errors import ValidationError

MAX_EXPRESSION_CHARS = 4096
DEFAULT_CALLBACK_TIMEOUT = 3600.0
_MACROS = {"all", "exists", "exists_one", "map", "filter"}
_ENV = celpy.Environment()

Outcome = Literal["completed", "failed", "ignored"]
DefaultAction = Literal["complete", "fail", "ignore"]


@attrs.frozen
class CallbackToken:
    """A registered callback: give ``id`` to the external system.

    It belongs to one attempt; once the job is rescued, cancelled or
    registers another callback, the id is stale and resolutions are refused.
    """

    id: uuid.UUID
    job_id: int
    run_lease: int
    timeout_at: datetime


@attrs.frozen
class WaitForCallback:
    """Return this from a handler to park the job until its callback resolves;
    the worker slot is freed meanwhile."""

    token: CallbackToken


def _identifiers(tree: Any) -> set[str]:
    """Free identifiers of a parsed expression (macro variables excluded)."""
    used: set[str] = set()
    bound: set[str] = set()
    for node in tree.iter_subtrees():
        if node.data == "ident" and node.children:
            used.add(str(node.children[0]))
        elif node.data == "member_dot_arg" and len(node.children) >= 2:
            method = str(node.children[1])
            args = node.children[2] if len(node.children) > 2 else None
            if method in _MACROS and args is not None and getattr(args, "children", None):
                for first in args.children[0].iter_subtrees():
                    if first.data == "ident" and first.children:
                        bound.add(str(first.children[0]))
                        break
    return used - bound


@lru_cache(maxsize=1024)
def _program(source: str) -> Any:
    return _ENV.program(_ENV.compile(source))


def check_expression(source: object, field: str) -> str | None:
    """A valid CEL expression over ``payload``, or None."""
    if source is None:
        return None
    if not isinstance(source, str) or not source.strip():
        raise ValidationError(f"{field}: expected a CEL expression", field=field)
    if "\x00" in source or len(source) > MAX_EXPRESSION_CHARS:
        raise ValidationError(
            f"{field}: at most {MAX_EXPRESSION_CHARS} characters, no NUL", field=field
        )
    try:
        tree = _ENV.compile(source)
    except Exception as exc:  # celpy raises its own parse errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(f"{field}: not valid CEL: {first}", field=field) from None
    unknown = sorted(_identifiers(tree) - {"payload"})
    if unknown:
        raise ValidationError(
            f"{field}: only `payload` may be referenced, not {', '.join(unknown)}", field=field
        )
    return source


def check_error_message(value: object) -> str:
    """``fail_external``'s error: non-empty text."""
    message = check_text(value, "error")
    if not message.strip():
        raise ValidationError("error: expected a non-empty message", field="error")
    return message


def check_timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 30 * 86400:
        raise ValidationError(
            "timeout_seconds: expected a number of seconds between 0 and 30 days",
            field="timeout_seconds",
        )
    return float(value)


def to_plain(value: Any) -> Any:
    """A CEL value as JSON-compatible Python data."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, dict):
        return {str(to_plain(k)): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, int | float | str):
        return value
    return str(value)


def _evaluate(source: str, payload: Any) -> Any:
    return _program(source).evaluate({"payload": json_to_cel(payload)})


@attrs.frozen
class Decision:
    outcome: Outcome
    payload: Any
    reason: str
    expression: str | None
    errors: tuple[str, ...]


def decide(
    *,
    filter: str | None,
    on_fail: str | None,
    on_complete: str | None,
    transform: str | None,
    payload: Any,
    default_action: str,
) -> Decision:
    """Apply the rules of this module's docstring."""
    errors: list[str] = []

    def test(name: str, source: str | None) -> bool | None:
        if source is None:
            return None
        try:
            return bool(to_plain(_evaluate(source, payload)))
        except Exception as exc:
            errors.append(f"{name}: {exc.args[0] if exc.args else exc}")
            return None

    def completed(reason: str, expression: str | None) -> Decision:
        result = payload
        if transform is not None:
            try:
                result = to_plain(_evaluate(transform, payload))
                json.dumps(result)
            except Exception as exc:
                errors.append(f"transform: {exc.args[0] if exc.args else exc}")
                result = payload
        return Decision("completed", result, reason, expression, tuple(errors))

    if filter is not None:
        passed = test("filter", filter)
        if not passed:
            reason = "filter error" if passed is None else "filter returned false"
            return Decision("ignored", payload, reason, filter, tuple(errors))
    if test("on_fail", on_fail):
        return Decision("failed", payload, "on_fail matched", on_fail, tuple(errors))
    if test("on_complete", on_complete):
        return completed("on_complete matched", on_complete)
    if default_action == "complete":
        return completed("default action", None)
    if default_action == "fail":
        return Decision("failed", payload, "default action", None, tuple(errors))
    return Decision("ignored", payload, "no rule matched", None, tuple(errors))


def check_default_action(value: object) -> str:
    if value not in ("complete", "fail", "ignore"):
        raise ValidationError(
            "default_action: expected 'complete', 'fail' or 'ignore'", field="default_action"
        )
    return str(value)


@attrs.frozen
class ResolveResult:
    """What ``resolve_callback`` did: ``outcome`` completed, failed or ignored."""

    outcome: Outcome
    job: Job | None
    payload: Any
    reason: str
    errors: tuple[str, ...] = ()

    def is_completed(self) -> bool:
        return self.outcome == "completed"

    def is_failed(self) -> bool:
        return self.outcome == "failed"

    def is_ignored(self) -> bool:
        return self.outcome == "ignored"


def parse_callback_id(value: object) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, CallbackToken):
        return value.id
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationError(f"callback_id: not a UUID: {value!r}", field="callback_id") from None
