"""Turning what a handler did into the job's next state (DESIGN §7)."""

from __future__ import annotations

import traceback
from typing import Any

import attrs

from awa._model.callbacks import WaitForCallback
from awa._model.job import Job
from awa._model.outcomes import Cancel, RetryAfter, Snooze
from awa._runtime.lease import LeaseToken
from awa.errors import TerminalError

MAX_MESSAGE_CHARS = 2000
TRACEBACK_LINES = 10

COMPLETE = "complete"
RETRY = "retry"
SNOOZE = "snooze"
FAIL = "fail"
CANCEL = "cancel"
HAND_BACK = "hand_back"
PARK = "park"


@attrs.define(eq=False)
class Outcome:
    """An attempt's result, waiting to be written (fenced by ``token``)."""

    token: LeaseToken
    action: str
    job: Job
    event: str | None
    delay: float | None = None
    error: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    duration: float = 0.0
    callback_id: Any = None


def _clean(text: str, limit: int) -> str:
    # jsonb can't hold NUL; keep messages bounded.
    text = text.replace("\x00", "\\0")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_entry(
    job: Job, type_name: str, message: str, *, terminal: bool, trace: str | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "attempt": job.attempt,
        "type": _clean(type_name, 200),
        "message": _clean(message, MAX_MESSAGE_CHARS),
        "terminal": terminal,
    }
    if trace:
        entry["traceback"] = _clean(trace, 8 * MAX_MESSAGE_CHARS)
    return entry


def _short_traceback(exc: BaseException) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(lines).rstrip().splitlines()
    return "\n".join(text[-TRACEBACK_LINES:])


def _exhausted(job: Job) -> bool:
    return job.attempt >= job.max_attempts


def from_exception(
    exc: BaseException, job: Job, token: LeaseToken, progress: dict[str, Any] | None
) -> Outcome:
    """Raised ``TerminalError`` -> failed; anything else -> retry, or failed when exhausted."""
    terminal = isinstance(exc, TerminalError)
    final = terminal or _exhausted(job)
    entry = error_entry(
        job, type(exc).__qualname__, str(exc), terminal=final, trace=_short_traceback(exc)
    )
    if final:
        return Outcome(token, FAIL, job, "failed", error=entry, progress=progress)
    return Outcome(token, RETRY, job, "retried", error=entry, progress=progress)


def from_result(
    result: object, job: Job, token: LeaseToken, progress: dict[str, Any] | None
) -> Outcome:
    """``None`` (or any other value) completes; the outcome classes do what they say."""
    if isinstance(result, RetryAfter):
        if _exhausted(job):
            entry = error_entry(
                job,
                "MaxAttemptsExhausted",
                f"max_attempts exhausted (handler requested retry after {result.seconds:g}s)",
                terminal=True,
            )
            return Outcome(token, FAIL, job, "failed", error=entry, progress=progress)
        return Outcome(token, RETRY, job, "retried", delay=result.seconds, progress=progress)
    if isinstance(result, Snooze):
        return Outcome(token, SNOOZE, job, "snoozed", delay=result.seconds, progress=progress)
    if isinstance(result, WaitForCallback):
        callback = result.token
        if (callback.job_id, callback.run_lease) != (token.job_id, token.run_lease):
            entry = error_entry(
                job,
                "InvalidCallbackToken",
                "WaitForCallback was returned with a token of another attempt",
                terminal=True,
            )
            return Outcome(token, FAIL, job, "failed", error=entry, progress=progress)
        return Outcome(token, PARK, job, None, progress=progress, callback_id=callback.id)
    if isinstance(result, Cancel):
        entry = error_entry(job, "Cancelled", str(result.reason), terminal=True)
        return Outcome(token, CANCEL, job, "cancelled", error=entry, progress=progress)
    return Outcome(token, COMPLETE, job, "completed")


def deadline_exceeded(job: Job, token: LeaseToken, progress: dict[str, Any] | None) -> Outcome:
    final = _exhausted(job)
    entry = error_entry(job, "DeadlineExceeded", "hard deadline exceeded", terminal=final)
    action, event = (FAIL, "failed") if final else (RETRY, "retried")
    return Outcome(token, action, job, event, error=entry, progress=progress)


def failed_before_running(job: Job, token: LeaseToken, type_name: str, message: str) -> Outcome:
    """Unknown kind, args that don't fit the handler: fail now, no retry."""
    entry = error_entry(job, type_name, message, terminal=True)
    return Outcome(token, FAIL, job, "failed", error=entry)


def hand_back(job: Job, token: LeaseToken, progress: dict[str, Any] | None) -> Outcome:
    return Outcome(token, HAND_BACK, job, None, progress=progress)
