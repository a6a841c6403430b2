"""Worker slots per queue: a fixed number, or a weighted share of a global pool.

Weighted mode (``global_max_workers``): each queue owns ``min_workers``
slots; the rest (the overflow) is shared. A queue that wants more than its
floor may hold at most ``ceil(overflow * weight / W)`` overflow slots, W being
the summed weight of the queues that want or hold overflow now, so shares
follow the weights under contention and an idle queue's share goes to others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from awa._model.runtime_config import QueueConfig


class FixedPermits:
    """Up to ``limit`` jobs of one queue at once (``max_workers``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def available(self) -> int:
        return self.limit - self.held

    def acquire(self, wanted: int) -> int:
        granted = max(0, min(wanted, self.limit - self.held))
        self.held += granted
        return granted

    def release(self, count: int) -> None:
        self.held -= count

    def idle(self) -> None:
        """The queue has nothing left to claim."""


class WeightedAllocator:
    """The global pool of weighted mode, shared by the queues of one process."""

    def __init__(self, total: int, queues: Sequence[QueueConfig]) -> None:
        self.total = total
        self.floor = {q.name: q.min_workers for q in queues}
        self.weight = {q.name: q.weight for q in queues}
        self.overflow = total - sum(self.floor.values())
        self.reserved = dict.fromkeys(self.floor, 0)
        self.extra = dict.fromkeys(self.floor, 0)
        self.demand = dict.fromkeys(self.floor, 0)
        self._wakers: dict[str, Callable[[], None]] = {}

    def register(self, queue: str, wake: Callable[[], None]) -> None:
        """A dispatcher starts: it counts as wanting work until it reports idle,
        so the first claims already respect the shares."""
        self._wakers[queue] = wake
        self.demand[queue] = max(self.demand[queue], 1)

    def _fair_share(self, queue: str) -> int:
        contending = sum(
            w for q, w in self.weight.items() if q == queue or self.demand[q] or self.extra[q]
        )
        return math.ceil(self.overflow * self.weight[queue] / contending)

    def _overflow_free(self) -> int:
        return self.overflow - sum(self.extra.values())

    def available(self, queue: str) -> int:
        floor_free = self.floor[queue] - self.reserved[queue]
        extra_free = max(0, min(self._overflow_free(), self._fair_share(queue) - self.extra[queue]))
        return floor_free + extra_free

    def acquire(self, queue: str, wanted: int) -> int:
        from_floor = max(0, min(wanted, self.floor[queue] - self.reserved[queue]))
        self.reserved[queue] += from_floor
        rest = wanted - from_floor
        self.demand[queue] = rest
        from_pool = 0
        if rest > 0:
            share_left = self._fair_share(queue) - self.extra[queue]
            from_pool = max(0, min(rest, self._overflow_free(), share_left))
            self.extra[queue] += from_pool
        return from_floor + from_pool

    def release(self, queue: str, count: int) -> None:
        from_pool = min(count, self.extra[queue])
        self.extra[queue] -= from_pool
        self.reserved[queue] -= count - from_pool
        if from_pool:
            for other, wake in self._wakers.items():
                if other != queue and self.demand[other]:
                    wake()

    def idle(self, queue: str) -> None:
        self.demand[queue] = 0
        for other, wake in self._wakers.items():
            if other != queue and self.demand[other]:
                wake()

    def held(self, queue: str) -> int:
        return self.reserved[queue] + self.extra[queue]


class WeightedPermits:
    """One queue's view of the weighted pool."""

    def __init__(self, allocator: WeightedAllocator, queue: str) -> None:
        self.allocator = allocator
        self.queue = queue
        self.limit = allocator.floor[queue] + allocator.overflow

    @property
    def held(self) -> int:
        return self.allocator.held(self.queue)

    def available(self) -> int:
        return self.allocator.available(self.queue)

    def acquire(self, wanted: int) -> int:
        return self.allocator.acquire(self.queue, wanted)

    def release(self, count: int) -> None:
        self.allocator.release(self.queue, count)

    def idle(self) -> None:
        self.allocator.idle(self.queue)


Permits = FixedPermits | WeightedPermits
