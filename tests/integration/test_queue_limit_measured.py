"""Setting a depth limit measures the queue at once: with no worker (and so
no leader refreshing depths) a full queue already refuses inserts."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import awa

pytestmark = pytest.mark.pg


@dataclass
class Unit:
    n: int


async def test_a_new_limit_is_measured_when_set(client) -> None:
    await client.insert_many([Unit(i) for i in range(3)], queue="bounded")
    limit = await client.set_queue_limit("bounded", 3)
    assert (limit.depth, limit.max_depth) == (3, 3)
    with pytest.raises(awa.QueueFull):
        await client.insert(Unit(4), queue="bounded")
    assert (await client.set_queue_limit("bounded", None)).max_depth is None
    await client.insert(Unit(5), queue="bounded")  # no limit: accepted
