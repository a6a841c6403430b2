"""Token buckets and the weighted allocator, on an injected clock (no waiting)."""

from __future__ import annotations

import pytest

from awa import ConfigError
from awa._model.runtime_config import parse_runtime
from awa._runtime.permits import FixedPermits, WeightedAllocator, WeightedPermits
from awa._runtime.rate_limit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_token_bucket_holds_the_rate_over_ten_seconds() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=50, burst=10, clock=clock)
    granted = 0
    while clock.now < 10:
        granted += await bucket.take(64)  # a greedy claimer
        clock.now += 0.05
    # burst up front, then the rate: within 10% of 50/s over 10 s
    assert abs((granted - 10) - 500) <= 50


async def test_token_bucket_waits_and_refunds() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=1, clock=clock)
    assert await bucket.take(5) == 1
    assert await bucket.take(1) == 0
    assert bucket.wait_time() == pytest.approx(0.5)
    await bucket.refund(1)
    assert await bucket.take(1) == 1


def weighted(total: int, **queues: tuple[int, int]) -> WeightedAllocator:
    config = parse_runtime(
        [{"name": n, "min_workers": m, "weight": w} for n, (m, w) in queues.items()],
        {"global_max_workers": total},
    )
    return WeightedAllocator(total, config.queues)


def test_weighted_shares_follow_weights_under_contention() -> None:
    pool = weighted(12, a=(0, 1), b=(0, 2), c=(0, 3))
    pool.acquire("a", 12)  # a asked first, alone: it may use the whole idle pool
    assert pool.held("a") == 12
    for _ in range(30):  # then all three keep a backlog: jobs finish, slots are re-asked for
        for queue in "abc":
            if pool.held(queue):
                pool.release(queue, 1)
            pool.acquire(queue, 12)
    held = {q: pool.held(q) for q in "abc"}
    assert sum(held.values()) == 12
    for queue, weight in (("a", 1), ("b", 2), ("c", 3)):
        assert abs(held[queue] - 12 * weight / 6) <= 1


def test_floors_are_reserved_and_idle_shares_flow_to_others() -> None:
    pool = weighted(10, a=(3, 1), b=(2, 1))
    permits_a, permits_b = WeightedPermits(pool, "a"), WeightedPermits(pool, "b")
    assert permits_a.acquire(100) == 3 + 5  # its floor plus the whole idle overflow
    assert permits_b.acquire(100) == 2  # b's floor is always there
    permits_a.release(8)
    pool.idle("a")
    assert permits_b.acquire(100) == 5


def test_fixed_permits_cap_at_max_workers() -> None:
    permits = FixedPermits(3)
    assert permits.acquire(5) == 3
    assert permits.acquire(1) == 0
    permits.release(2)
    assert permits.available() == 2


@pytest.mark.parametrize(
    ("queues", "options"),
    [
        ([{"name": "a", "min_workers": 5}], {"global_max_workers": 4}),
        ([("a", 3)], {"global_max_workers": 10}),
        ([{"name": "a", "weight": 0}], {"global_max_workers": 10}),
        ([{"name": "a", "weight": 2}], {}),
        ([{"name": "a", "rate_limit": (0, 1)}], {}),
        ([{"name": "a", "rate_limit": (5,)}], {}),
        ([{"name": "a", "rate_limit_scope": "galaxy"}], {}),
    ],
)
def test_invalid_flow_control_settings_are_rejected(queues, options) -> None:
    with pytest.raises(ConfigError):
        parse_runtime(queues, options)
