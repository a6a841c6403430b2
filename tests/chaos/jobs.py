"""The fault suite's job type, shared by the test and the worker app."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Work:
    n: int
    mode: str  # ok | retry | snooze | fail | cancel | hog
    sleep: float = 0.0
