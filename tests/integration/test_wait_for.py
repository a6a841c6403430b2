"""client.wait_for(): many waiters share one LISTEN connection; NOTIFY wakes them."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import anyio.to_thread
import pytest

import awa
from awa import JobState
from tests.runtime_helpers import fast

pytestmark = pytest.mark.pg


@dataclass
class Step:
    n: int


async def test_many_waiters_without_a_connection_each(client, db) -> None:
    gate = anyio.Event()

    @client.worker(Step)
    async def handle(job: awa.JobContext) -> None:
        await gate.wait()
        if job.args.n % 3 == 0:
            raise awa.TerminalError("multiple of three")

    async with client:
        ids = (await client.insert_many([Step(i) for i in range(120)])).ids
        settled: dict[int, JobState] = {}

        async def wait(job_id: int) -> None:
            settled[job_id] = (await client.wait_for(job_id, timeout=60)).state

        client.start([("default", 20)], **fast())
        async with anyio.create_task_group() as tg:
            for job_id in ids:
                tg.start_soon(wait, job_id)
            with anyio.fail_after(20):
                # every waiter armed (inside wait_for: no event to wait on)
                while len(client._hub._waiters) < len(ids):  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            sessions = db.execute(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
            ).fetchone()["n"]
            gate.set()
        assert sessions < 40  # 120 waiters, nowhere near one connection each
        failed = {i for i, s in settled.items() if s == JobState.FAILED}
        assert failed == {job_id for n, job_id in enumerate(ids) if n % 3 == 0}
        assert set(settled.values()) == {JobState.COMPLETED, JobState.FAILED}


async def test_waiting_external_counts_as_settled_and_bad_input(client) -> None:
    @client.worker(Step)
    async def handle(job: awa.JobContext) -> object:
        return awa.WaitForCallback(await job.register_callback(timeout_seconds=600))

    async with client:
        job = await client.insert(Step(1))
        with pytest.raises(TimeoutError):
            await client.wait_for(job.id, timeout=0.2)  # no workers yet
        client.start([("default", 1)], **fast())
        parked = await client.wait_for(job.id, timeout=20)
        assert parked.state == JobState.WAITING_EXTERNAL
        with pytest.raises(awa.JobNotFound):
            await client.wait_for(10**12, timeout=5)
        for bad in (0, -1, "1", True, 1.5):
            with pytest.raises(awa.ValidationError):
                await client.wait_for(bad, timeout=5)  # type: ignore[arg-type]


@pytest.mark.parametrize("entered", [False, True])
async def test_a_client_without_workers_waits_for_another(client, entered) -> None:
    @client.worker(Step)
    async def handle(job: awa.JobContext) -> None:
        pass

    job = await client.insert(Step(1))
    waiter = awa.AsyncClient(client.database_url)
    done = anyio.Event()
    result: list[awa.Job] = []

    async def wait() -> None:
        result.append(await waiter.wait_for(job.id, timeout=30))
        done.set()

    try:
        if entered:
            await waiter.__aenter__()
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            async with client:
                client.start([("default", 1)], **fast())
                with anyio.fail_after(30):
                    await done.wait()
    finally:
        if entered:
            await waiter.__aexit__(None, None, None)
        await waiter.close()
    assert result[0].state == JobState.COMPLETED


async def test_sync_wait_for_in_threads(client, sync_client, db) -> None:
    gate = anyio.Event()

    @client.worker(Step)
    async def handle(job: awa.JobContext) -> None:
        await gate.wait()

    ids = [sync_client.insert(Step(i)).id for i in range(30)]
    result: list[awa.Job] = []
    async with client, anyio.create_task_group() as tg:
        for job_id in ids:
            tg.start_soon(
                anyio.to_thread.run_sync,
                lambda job_id=job_id: result.append(sync_client.wait_for(job_id, timeout=30)),
            )
        client.start([("default", 2)], **fast())
        with anyio.fail_after(20):
            # every thread waiting (inside wait_for: no event to wait on)
            while sync_client._waits is None or len(sync_client._waits._waiters) < len(ids):  # noqa: ASYNC110
                await anyio.sleep(0.01)
        listening = db.execute(
            "SELECT count(*) AS n FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'awa-wait'"
        ).fetchone()["n"]
        gate.set()
    assert listening == 1  # 30 waiting threads, one LISTEN connection
    assert sorted(j.id for j in result) == ids
    assert {j.state for j in result} == {JobState.COMPLETED}
    with pytest.raises(TimeoutError):
        sync_client.wait_for(sync_client.insert(Step(9)).id, timeout=0.2)
    with pytest.raises(awa.JobNotFound):
        sync_client.wait_for(10**12, timeout=1)
    with pytest.raises(awa.ValidationError):
        sync_client.wait_for(-3)


def test_sync_wait_for_an_unreachable_database() -> None:
    with (
        awa.Client("postgresql://root@127.0.0.1:1/nowhere") as unreachable,
        pytest.raises(awa.ConnectionFailed),
    ):
        unreachable.wait_for(1, timeout=5)
