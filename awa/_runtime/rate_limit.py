"""Token buckets limiting how fast a queue's jobs are claimed.

``TokenBucket`` is per process. ``FleetBucket`` keeps the bucket in
``awa.rate_limits`` and takes tokens in one row-locked statement, so every
worker process shares one limit (upstream awa's limits are per process).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import attrs

from awa._runtime.db import Db
from awa._sql import Q


@attrs.define
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    tokens: float = attrs.field(init=False)
    _refilled: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.tokens = float(self.burst)
        self._refilled = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self._refilled) * self.rate)
        self._refilled = now

    async def take(self, wanted: int) -> int:
        """Take up to ``wanted`` whole tokens now; return how many."""
        self._refill()
        granted = min(wanted, math.floor(self.tokens))
        self.tokens -= granted
        return granted

    async def refund(self, count: int) -> None:
        self.tokens = min(float(self.burst), self.tokens + count)

    def wait_time(self) -> float:
        """Seconds until the next whole token."""
        self._refill()
        return max(0.0, (1 - self.tokens) / self.rate)


class FleetBucket:
    """One bucket per queue for the whole fleet, kept in PostgreSQL."""

    def __init__(self, db: Db, queue: str, rate: float, burst: int) -> None:
        self.db = db
        self.queue = queue
        self.rate = rate
        self.burst = burst
        self._wait = 0.0

    def _params(self, **extra: object) -> dict[str, object]:
        return {"queue": self.queue, "rate": self.rate, "burst": self.burst, "now": None, **extra}

    async def take(self, wanted: int, *, now: object = None) -> int:
        params = self._params(wanted=wanted, now=now)
        row = await self.db.one(Q["rate_limit_take"], params)
        if row is None:  # first use: create the bucket, then take
            await self.db.exec(Q["rate_limit_init"], params)
            row = await self.db.one(Q["rate_limit_take"], params)
        assert row is not None
        granted = int(row["granted"])
        left = float(row["available"]) - granted
        self._wait = 0.0 if granted else max(0.0, (1 - left) / self.rate)
        return granted

    async def refund(self, count: int) -> None:
        if count > 0:
            await self.db.exec(Q["rate_limit_refund"], self._params(count=count))

    def wait_time(self) -> float:
        return self._wait
