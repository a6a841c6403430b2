"""The operator reads behind the CLI and the UI: state counts, throughput,
search, kinds, runtime instances, read-only detection."""

from __future__ import annotations

import uuid

import pytest

import awa
from awa import ValidationError
from tests.helpers import SendEmail, force_failed

pytestmark = pytest.mark.pg


async def test_state_counts_and_throughput(client: awa.AsyncClient, db) -> None:
    ids = (await client.insert_many([SendEmail(str(i), "s") for i in range(4)])).ids
    force_failed(db, ids[0])
    await client.cancel(ids[1])
    counts = await client.job_state_counts()
    assert set(counts) == {s.value for s in awa.JobState}
    assert (counts["available"], counts["failed"], counts["cancelled"]) == (2, 1, 1)
    buckets = await client.throughput(3)
    assert len(buckets) == 3
    assert buckets == sorted(buckets, key=lambda b: b.minute)
    assert (buckets[-1].failed, buckets[-1].cancelled, buckets[-1].total) == (1, 1, 2)
    for bad in (0, 1441, -1, True, 1.5, "60"):
        with pytest.raises(ValidationError):
            await client.throughput(bad)  # type: ignore[arg-type]


async def test_search(client: awa.AsyncClient) -> None:
    plain = await client.insert(SendEmail("a@example.com", "50% off"))
    tagged = await client.insert({"x": 1}, kind="report", tags=["Nightly_Run"])
    assert [j.id for j in await client.list_jobs(search="50%")] == [plain.id]
    assert [j.id for j in await client.list_jobs(search="nightly_run")] == [tagged.id]
    assert [j.id for j in await client.list_jobs(search="night_y")] == []  # _ is literal
    assert [j.id for j in await client.list_jobs(search="REPORT")] == [tagged.id]
    assert len(await client.list_jobs(search="   ")) == 2  # blank: no filter
    assert [j.id for j in await client.list_jobs(search="example", kind="report")] == []
    for bad in ("x" * 201, 5, "a\x00b"):
        with pytest.raises(ValidationError):
            await client.list_jobs(search=bad)  # type: ignore[arg-type]


async def test_kinds_and_runtime_instances(client: awa.AsyncClient, db) -> None:
    await client.insert(SendEmail("a", "b"))
    await client.insert({"x": 1}, kind="report")
    assert await client.job_kinds() == ["report", "send_email"]
    assert await client.runtime_instances() == []
    live, stale = uuid.uuid4(), uuid.uuid4()
    for instance, ago in ((live, 1), (stale, 120)):
        db.execute(
            "INSERT INTO awa.runtime_instances"
            " (instance_id, hostname, pid, version, leader, snapshot, last_seen_at)"
            " VALUES (%s, 'h', 7, 'v', true, '{\"queues\": []}',"
            "         now() - make_interval(secs => %s))",
            (instance, ago),
        )
    found = {i.instance_id: i for i in await client.runtime_instances()}
    assert found[live].live
    assert not found[stale].live
    assert found[live].snapshot == {"queues": []}
    assert all(i.live for i in await client.runtime_instances(stale_after=600))
    for bad in (0, -1, True, "30", 90_000):
        with pytest.raises(ValidationError):
            await client.runtime_instances(stale_after=bad)  # type: ignore[arg-type]


async def test_database_read_only(client: awa.AsyncClient, database_url: str, db) -> None:
    assert await client.database_read_only() is False
    db.execute(f'ALTER DATABASE "{db.info.dbname}" SET default_transaction_read_only = on')
    async with awa.AsyncClient(database_url) as fresh:
        assert await fresh.database_read_only() is True


def test_sync_client_has_them_too(sync_client: awa.Client) -> None:
    assert sync_client.job_state_counts()["available"] == 0
    assert len(sync_client.throughput(2)) == 2
    assert sync_client.database_read_only() is False
