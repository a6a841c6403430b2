"""Job states, the tables that hold them, and the unique-state bit mask.

Mirrors the state machine of ``spec/core/AwaCore.tla``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from awa.errors import ValidationError


class JobState(StrEnum):
    """Where a job is in its life. The value is the database enum label."""

    SCHEDULED = "scheduled"
    AVAILABLE = "available"
    RUNNING = "running"
    COMPLETED = "completed"
    RETRYABLE = "retryable"
    FAILED = "failed"
    CANCELLED = "cancelled"
    WAITING_EXTERNAL = "waiting_external"

    # Aliases spelled as upstream awa's Python binding spells them.
    Scheduled = "scheduled"
    Available = "available"
    Running = "running"
    Completed = "completed"
    Retryable = "retryable"
    Failed = "failed"
    Cancelled = "cancelled"
    WaitingExternal = "waiting_external"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})
DEFERRED_STATES = frozenset({JobState.SCHEDULED, JobState.RETRYABLE})
HOT_STATES = frozenset({JobState.AVAILABLE, JobState.RUNNING, JobState.WAITING_EXTERNAL})

# Fixed bit positions of the unique-state mask (bit 0 is the leftmost bit of
# the database's BIT(8)). Never reorder: stored masks depend on it.
STATE_BIT = {
    JobState.SCHEDULED: 0,
    JobState.AVAILABLE: 1,
    JobState.RUNNING: 2,
    JobState.COMPLETED: 3,
    JobState.RETRYABLE: 4,
    JobState.FAILED: 5,
    JobState.CANCELLED: 6,
    JobState.WAITING_EXTERNAL: 7,
}

DEFAULT_UNIQUE_STATES = frozenset(
    {
        JobState.SCHEDULED,
        JobState.AVAILABLE,
        JobState.RUNNING,
        JobState.COMPLETED,
        JobState.RETRYABLE,
    }
)


def parse_state(value: object, *, field: str = "state") -> JobState:
    """Turn a ``JobState`` or its label into a ``JobState``; reject anything else."""
    if isinstance(value, JobState):
        return value
    if isinstance(value, str):
        try:
            return JobState(value)
        except ValueError:
            pass
    known = ", ".join(s.value for s in STATE_BIT)
    raise ValidationError(f"{field}: unknown job state {value!r} (one of {known})", field=field)


def states_to_mask(states: Iterable[object] | int) -> str:
    """Encode states as the database's BIT(8) text, leftmost bit = scheduled.

    An int is taken as upstream awa's u8 mask (bit N = state at position N).
    """
    if isinstance(states, bool):
        raise ValidationError("unique states: expected states or an int mask", field="states")
    if isinstance(states, int):
        if not 0 < states < 256:
            raise ValidationError(
                "unique states: an int mask must be between 1 and 255", field="states"
            )
        positions = {bit for bit in range(8) if states & (1 << bit)}
    else:
        positions = {STATE_BIT[parse_state(s, field="states")] for s in states}
        if not positions:
            raise ValidationError("unique states: give at least one state", field="states")
    return "".join("1" if bit in positions else "0" for bit in range(8))


def mask_to_states(mask: str) -> frozenset[JobState]:
    by_bit = {bit: state for state, bit in STATE_BIT.items()}
    return frozenset(by_bit[i] for i, c in enumerate(mask) if c == "1")
