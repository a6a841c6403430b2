"""How the dispatcher batches claims: waiting for several free slots is
worth a round trip, but it must never leave free slots idle behind a backlog."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import pytest

import awa
from tests.runtime_helpers import fast

pytestmark = pytest.mark.pg


@dataclass
class Hold:
    n: int


async def test_free_slots_fewer_than_a_batch_still_take_the_backlog(client) -> None:
    # max_workers 10: a claim waits for 5 free slots while jobs run. Two
    # finish and stay the only free ones: the two waiting jobs must start.
    release = {n: anyio.Event() for n in range(12)}
    started = {n: anyio.Event() for n in range(12)}
    ten_running = anyio.Event()

    @client.worker(Hold)
    async def handle(job: awa.JobContext) -> None:
        started[job.args.n].set()
        if sum(e.is_set() for e in started.values()) == 10:
            ten_running.set()
        await release[job.args.n].wait()

    async with client:
        await client.insert_many([Hold(n) for n in range(12)])
        client.start([("default", 10)], **fast())
        await client.wait_started()
        with anyio.fail_after(20):
            await ten_running.wait()
        first = [n for n in range(12) if started[n].is_set()]
        waiting = sorted(set(range(12)) - set(first))
        for n in first[:2]:
            release[n].set()
        with anyio.fail_after(20):  # well before any safety poll would matter
            for n in waiting:
                await started[n].wait()
        for event in release.values():
            event.set()
        await client.shutdown()
