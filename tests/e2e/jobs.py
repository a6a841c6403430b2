"""Job argument types shared by the worker application and the tests that enqueue."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Record:
    n: int


@dataclass
class Hang:
    n: int


@dataclass
class Keyed:
    tenant: int
