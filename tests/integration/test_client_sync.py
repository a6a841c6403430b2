"""The sync ``awa.Client``: the seed's "Sync API" snippet and the same operations."""

from __future__ import annotations

import threading

import pytest

import awa
from awa import JobState, UniqueConflict, ValidationError
from tests.helpers import SendEmail, count_jobs

pytestmark = pytest.mark.pg

SEED_SYNC_SNIPPET = """
client = awa.Client("postgres://localhost/mydb")
client.migrate()
job = client.insert(SendEmail(to="bob@example.com", subject="Hello"))
"""


def test_seed_sync_snippet_runs_as_written(database_url: str, db) -> None:
    # The snippet's URL names the reader's database; point it at ours.
    code = SEED_SYNC_SNIPPET.replace("postgres://localhost/mydb", database_url)
    scope: dict[str, object] = {"awa": awa, "SendEmail": SendEmail}
    exec(code, scope)
    job = scope["job"]
    assert isinstance(job, awa.Job)
    assert job.state is JobState.AVAILABLE
    scope["client"].close()  # type: ignore[attr-defined]
    assert count_jobs(db) == 1


def test_sync_transaction_and_batch(sync_client: awa.Client, db) -> None:
    db.execute("CREATE TABLE orders (id int PRIMARY KEY)")
    with sync_client.transaction() as tx:
        tx.execute("INSERT INTO orders (id) VALUES ($1)", 1)
        tx.insert(SendEmail("a", "b"))
        tx.insert_many([SendEmail("c", "d")])
    with pytest.raises(RuntimeError), sync_client.transaction() as tx:
        tx.insert(SendEmail("rolled", "back"))
        raise RuntimeError
    assert count_jobs(db) == 2
    assert len(sync_client.insert_many([SendEmail(str(i), "x") for i in range(100)])) == 100


def test_sync_admin_round_trip(sync_client: awa.Client) -> None:
    job = sync_client.insert(SendEmail("a", "b"), unique_opts={"by_args": True})
    with pytest.raises(UniqueConflict):
        sync_client.insert(SendEmail("a", "b"), unique_opts={"by_args": True})
    assert sync_client.get_job(job.id) == job
    assert sync_client.cancel(job.id).state is JobState.CANCELLED
    assert sync_client.retry(job.id).state is JobState.AVAILABLE
    assert [j.id for j in sync_client.list_jobs()] == [job.id]
    sync_client.pause_queue("default")
    assert sync_client.queue_stats()[0].paused
    with pytest.raises(ValidationError):
        sync_client.insert(SendEmail("a", "b"), priority=0)


def test_sync_client_is_thread_safe(sync_client: awa.Client, db) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for i in range(20):
                sync_client.insert(SendEmail(str(i), "t"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count_jobs(db) == 160


def test_sync_closed_client_raises(database_url: str) -> None:
    client = awa.Client(database_url)
    client.close()
    with pytest.raises(awa.ClientClosed):
        client.insert(SendEmail("a", "b"))


def test_sync_unreachable_database_raises() -> None:
    with (
        awa.Client("postgresql://x@127.0.0.1:1/none", connect_timeout=2) as client,
        pytest.raises(awa.ConnectionFailed),
    ):
        client.get_job(1)
