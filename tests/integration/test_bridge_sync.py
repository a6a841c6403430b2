"""awa.bridge on sync connections: psycopg, SQLAlchemy (Connection, Session), Django.

For each driver: a job inserted in the caller's transaction is invisible to
other connections until commit, visible after it, and gone after a rollback;
options, uniqueness and validation behave as ``client.insert``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest

import awa
from awa.bridge import insert_job_sync, insert_many_sync
from tests.helpers import SendEmail, count_jobs, job_state, unique_claims

pytestmark = pytest.mark.pg


@dataclass
class Refund:
    order: int


# -- psycopg ---------------------------------------------------------------


def test_psycopg_commit_makes_the_job_visible(pg_conn, db) -> None:
    job = insert_job_sync(pg_conn, SendEmail("a@example.com", "Hi"), queue="email", priority=1)
    assert count_jobs(db) == 0  # not committed yet: no one else sees it
    pg_conn.commit()
    assert job_state(db, job.id) == "available"
    row = db.execute("SELECT kind, queue, args, priority FROM awa.jobs").fetchone()
    assert row == {
        "kind": "send_email",
        "queue": "email",
        "args": {"to": "a@example.com", "subject": "Hi"},
        "priority": 1,
    }
    assert (job.kind, job.queue, job.state) == ("send_email", "email", awa.JobState.AVAILABLE)


def test_psycopg_rollback_leaves_nothing(pg_conn, db) -> None:
    pg_conn.execute("CREATE TABLE orders (id int)")
    pg_conn.commit()
    pg_conn.execute("INSERT INTO orders VALUES (1)")
    insert_job_sync(pg_conn, Refund(1))
    pg_conn.rollback()
    assert count_jobs(db) == 0
    assert db.execute("SELECT count(*) AS n FROM orders").fetchone()["n"] == 0


def test_psycopg_inside_an_explicit_transaction_block(pg_conn, db) -> None:
    with pytest.raises(RuntimeError), pg_conn.transaction():
        insert_job_sync(pg_conn, Refund(1))
        raise RuntimeError("the order failed")
    with pg_conn.transaction():
        insert_job_sync(pg_conn, Refund(2))
    assert [r["args"] for r in db.execute("SELECT args FROM awa.jobs").fetchall()] == [{"order": 2}]


def test_psycopg_autocommit_commits_each_insert(database_url, db) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        insert_job_sync(conn, Refund(1))
        assert count_jobs(db) == 1


def test_run_at_schedules_the_job(pg_conn, db) -> None:
    job = insert_job_sync(pg_conn, Refund(1), run_at=timedelta(hours=1), tags=["a", "b"])
    pg_conn.commit()
    assert job.state == awa.JobState.SCHEDULED
    assert job.tags == ("a", "b")
    assert job_state(db, job.id) == "scheduled"


def test_unique_conflict_is_awas_error(pg_conn, db) -> None:
    first = insert_job_sync(pg_conn, Refund(1), unique_opts={"by_args": True})
    pg_conn.commit()
    with pytest.raises(awa.UniqueConflict) as caught:
        insert_job_sync(pg_conn, Refund(1), unique_opts={"by_args": True})
    assert caught.value.existing_job_id == first.id
    pg_conn.rollback()  # the failed statement aborted the caller's transaction
    assert count_jobs(db) == 1
    assert list(unique_claims(db).values()) == [first.id]


def test_the_same_unique_key_as_the_client(pg_conn, sync_client) -> None:
    job = insert_job_sync(pg_conn, Refund(9), unique_opts={"by_args": True, "by_queue": True})
    pg_conn.commit()
    with pytest.raises(awa.UniqueConflict):
        sync_client.insert(Refund(9), unique_opts={"by_args": True, "by_queue": True})
    assert sync_client.cancel_by_unique_key("refund", queue="default", args=Refund(9)).id == job.id


def test_bad_input_sends_nothing_and_keeps_the_transaction(pg_conn, db) -> None:
    pg_conn.execute("CREATE TABLE orders (id int)")
    for kwargs in [
        {"priority": 9},
        {"queue": ""},
        {"max_attempts": 0},
        {"tags": "abc"},
        {"unique_opts": {"by_arg": True}},
        {"metadata": {"x": "\x00"}},
    ]:
        with pytest.raises(awa.ValidationError):
            insert_job_sync(pg_conn, Refund(1), **kwargs)
    with pytest.raises(awa.ValidationError, match="kind"):
        insert_job_sync(pg_conn, {"order": 1})
    with pytest.raises(TypeError):
        insert_job_sync(pg_conn, Refund(1), colour="red")  # type: ignore[call-arg]
    pg_conn.execute("INSERT INTO orders VALUES (1)")  # the transaction is still usable
    pg_conn.commit()
    assert count_jobs(db) == 0


def test_an_unknown_connection_type_is_refused() -> None:
    for conn in [object(), "postgresql://", None]:
        with pytest.raises(awa.ValidationError, match=r"conn: expected psycopg\.Connection"):
            insert_job_sync(conn, Refund(1))


def test_missing_schema_is_schema_not_migrated(blank_database_url) -> None:
    with psycopg.connect(blank_database_url) as conn, pytest.raises(awa.SchemaNotMigrated):
        insert_job_sync(conn, Refund(1))


def test_queue_full_is_refused(pg_conn, db, sync_client) -> None:
    sync_client.set_queue_limit("default", 1)
    db.execute("UPDATE awa.queue_meta SET depth_estimate = 5 WHERE queue = 'default'")
    with pytest.raises(awa.QueueFull):
        insert_job_sync(pg_conn, Refund(1))


def test_psycopg_insert_many_commit_and_rollback(pg_conn, db) -> None:
    result = insert_many_sync(pg_conn, [Refund(i) for i in range(50)], queue="refunds")
    assert len(result) == 50
    pg_conn.rollback()
    assert count_jobs(db) == 0
    result = insert_many_sync(
        pg_conn,
        [Refund(i) for i in range(50)] + [awa.InsertJob(Refund(99), run_at=timedelta(hours=1))],
    )
    pg_conn.commit()
    assert count_jobs(db) == 51
    assert job_state(db, result.ids[-1]) == "scheduled"


def test_psycopg_insert_many_unique_skip_and_raise(pg_conn, db) -> None:
    opts = {"unique_opts": {"by_args": True}}
    insert_many_sync(pg_conn, [Refund(1)], **opts)
    pg_conn.commit()
    with pytest.raises(awa.UniqueConflict):
        insert_many_sync(pg_conn, [Refund(1), Refund(2)], **opts)
    result = insert_many_sync(pg_conn, [Refund(1), Refund(2)], on_unique_conflict="skip", **opts)
    pg_conn.commit()
    assert [s.index for s in result.skipped] == [0]
    assert count_jobs(db) == 2


def test_psycopg_insert_many_in_autocommit_is_one_transaction(database_url, db) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        with pytest.raises(awa.ValidationError):
            insert_many_sync(conn, [Refund(1), {"no": "kind"}])
        insert_many_sync(conn, [Refund(1), Refund(2)])
    assert count_jobs(db) == 2


# -- SQLAlchemy ------------------------------------------------------------


def test_sqlalchemy_connection_commit_and_rollback(sa_engine, db) -> None:
    from sqlalchemy import text

    with sa_engine.connect() as conn:
        conn.execute(text("CREATE TABLE orders (id int)"))
        conn.execute(text("INSERT INTO orders VALUES (1)"))
        job = insert_job_sync(conn, Refund(1), metadata={"source": "sqlalchemy"})
        assert count_jobs(db) == 0
        conn.commit()
        assert job.metadata == {"source": "sqlalchemy"}
        insert_job_sync(conn, Refund(2))
        conn.rollback()
    assert [r["args"] for r in db.execute("SELECT args FROM awa.jobs").fetchall()] == [{"order": 1}]


def test_sqlalchemy_session_commit_and_rollback(sa_engine, db) -> None:
    from sqlalchemy.orm import Session

    with Session(sa_engine) as session:
        with session.begin():
            insert_job_sync(session, Refund(1), unique_opts={"by_args": True})
        with pytest.raises(RuntimeError), session.begin():
            insert_job_sync(session, Refund(2))
            raise RuntimeError("boom")
        with pytest.raises(awa.UniqueConflict), session.begin():
            insert_job_sync(session, Refund(1), unique_opts={"by_args": True})
    assert count_jobs(db) == 1


def test_sqlalchemy_insert_many(sa_engine, db) -> None:
    from sqlalchemy.orm import Session

    with Session(sa_engine) as session:
        with session.begin():
            insert_many_sync(session, [Refund(i) for i in range(20)], unique_opts={})
        with session.begin():
            result = insert_many_sync(
                session, [Refund(1), Refund(20)], unique_opts={}, on_unique_conflict="skip"
            )
        assert len(result) == 1
        session.begin()
        insert_many_sync(session, [Refund(i) for i in range(100, 110)])
        session.rollback()
    assert count_jobs(db) == 21


# -- Django ----------------------------------------------------------------


def test_django_atomic_commit_and_rollback(django_connection, db) -> None:
    from django.db import transaction

    with transaction.atomic():
        job = insert_job_sync(django_connection, Refund(1), queue="refunds")
        assert count_jobs(db) == 0
    assert job_state(db, job.id) == "available"
    assert job.queue == "refunds"
    assert job.args == {"order": 1}
    assert job.created_at.tzinfo is not None

    with pytest.raises(RuntimeError), transaction.atomic():
        insert_job_sync(django_connection, Refund(2))
        raise RuntimeError("boom")
    assert count_jobs(db) == 1


def test_django_autocommit_and_uniqueness(django_connection, db) -> None:
    first = insert_job_sync(django_connection, Refund(1), unique_opts={"by_args": True})
    assert count_jobs(db) == 1  # Django's autocommit mode outside atomic()
    with pytest.raises(awa.UniqueConflict) as caught:
        insert_job_sync(django_connection, Refund(1), unique_opts={"by_args": True})
    assert caught.value.existing_job_id == first.id
    insert_job_sync(django_connection, Refund(2))  # the connection is still usable
    assert count_jobs(db) == 2


def test_django_insert_many(django_connection, db) -> None:
    from django.db import transaction

    result = insert_many_sync(django_connection, [Refund(i) for i in range(30)])
    assert len(result) == 30
    with pytest.raises(RuntimeError), transaction.atomic():
        insert_many_sync(django_connection, [Refund(i) for i in range(5)])
        raise RuntimeError("boom")
    assert count_jobs(db) == 30


def test_a_django_connection_to_another_vendor_is_refused() -> None:
    class SqliteLike:
        vendor = "sqlite"
        alias = "default"
        in_atomic_block = False

    with pytest.raises(awa.ValidationError, match="needs PostgreSQL"):
        insert_job_sync(SqliteLike(), Refund(1))
