"""Job argument types of the trace-validation worker, importable without a database."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Ok:
    n: int


@dataclass
class Flaky:
    n: int


@dataclass
class Stuck:
    n: int


@dataclass
class Outcomes:
    """Snoozes once then completes ("snooze"), fails for good ("fail") or cancels itself."""

    then: str


@dataclass
class Sleepy:
    n: int
