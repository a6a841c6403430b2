"""Least-privilege roles (``grant_roles`` / ``awa roles``): a worker runs the
whole runtime as the worker role; neither role can change the schema; the
reader can't write at all."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

import awa
from tests.runtime_helpers import fast, wait_finalized, wait_signal

pytestmark = [pytest.mark.pg]

DENIED = "42501"  # insufficient_privilege


@dataclass
class Roles:
    worker: str
    reader: str
    worker_url: str
    reader_url: str


@dataclass
class Chore:
    n: int


@pytest.fixture
def roles(database_url: str, db: psycopg.Connection) -> Iterator[Roles]:
    tag = uuid.uuid4().hex[:8]
    worker, reader = f"awa_worker_{tag}", f"awa_reader_{tag}"
    for role in (worker, reader):
        db.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        with awa.Client(database_url) as owner:
            owner.grant_roles(worker=worker, reader=reader)
            owner.grant_roles(worker=worker, reader=reader)  # idempotent
        yield Roles(
            worker,
            reader,
            make_conninfo(database_url, user=worker),
            make_conninfo(database_url, user=reader),
        )
    finally:
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY(%s)",
            ([worker, reader],),
        )
        for role in (worker, reader):
            db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


async def test_a_worker_runs_everything_as_the_worker_role(
    roles: Roles, caplog: pytest.LogCaptureFixture
) -> None:
    client = awa.AsyncClient(roles.worker_url)
    client.periodic("every-second", "* * * * * *", Chore, Chore(0), queue="chores")

    @client.worker(Chore, queue="chores")
    async def chore(job: awa.JobContext) -> object:
        if job.args.n == 1 and job.attempt == 1:
            return awa.RetryAfter(0.05)
        if job.args.n == 2:
            async with job.transaction() as tx:
                await tx.execute("SELECT current_user")
        return None

    async with client:
        plain = await client.insert(Chore(0), queue="chores")
        retried = await client.insert(Chore(1), queue="chores")
        in_tx = await client.insert(Chore(2), queue="chores")
        later = await client.insert(Chore(3), queue="chores", run_at=timedelta(seconds=0.2))
        many = await client.insert_many([Chore(4), Chore(5)], queue="chores")
        client.start([("chores", 4)], **fast(cleanup_interval=0.2, completed_retention=1.0))
        await client.wait_started()
        for job_id in (plain.id, retried.id, in_tx.id, later.id, *many.ids):
            await wait_finalized(client, job_id, "complete")
        await wait_signal(client, "cron_fired", name="every-second")
        await wait_signal(client, "cleaned")
        assert (await client.health_check()).healthy
        cancelled = await client.insert(Chore(6), queue="paused")
        await client.cancel(cancelled.id)
        await client.pause_queue("paused")
        await client.resume_queue("paused")
        await client.shutdown()
    await client.close()
    denied = [r.getMessage() for r in caplog.records if "permission denied" in r.getMessage()]
    assert denied == []


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE awa.jobs_hot",
        "TRUNCATE awa.jobs_hot",
        "ALTER TABLE awa.jobs_hot ADD COLUMN evil int",
        "CREATE TABLE awa.evil (x int)",
        "CREATE FUNCTION awa.evil() RETURNS int LANGUAGE sql RETURN 1",
        "INSERT INTO awa.schema_version (version, description) VALUES (999, 'evil')",
        "DELETE FROM awa.schema_version",
        "CREATE TABLE public.evil (x int)",
        "DROP FUNCTION awa.ensure_terminal_partitions(interval)",
        "ALTER FUNCTION awa.backoff_duration(integer, integer) SECURITY DEFINER",
    ],
)
def test_the_worker_role_cannot_change_the_schema(roles: Roles, statement: str) -> None:
    with psycopg.connect(roles.worker_url, autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as raised:
            conn.execute(statement)
        assert raised.value.sqlstate in (DENIED, "42P17"), raised.value


def test_the_reader_reads_and_cannot_write(roles: Roles, database_url: str) -> None:
    with awa.Client(database_url) as owner:
        job = owner.insert(Chore(1), queue="chores")
    with awa.Client(roles.reader_url) as reader:
        assert reader.get_job(job.id).state == awa.JobState.AVAILABLE
        assert [j.id for j in reader.list_jobs().jobs] == [job.id]
        assert reader.queue_stats()
        assert reader.migration_status().pending == ()
        assert reader.migrate() == []  # up to date: nothing to write
        for write in (
            lambda: reader.insert(Chore(2), queue="chores"),
            lambda: reader.cancel(job.id),
            lambda: reader.pause_queue("chores"),
            lambda: reader.drain_queue("chores"),
            lambda: reader.set_queue_limit("chores", 5),
        ):
            with pytest.raises(awa.DatabaseError) as raised:
                write()
            assert raised.value.sqlstate == DENIED
    with psycopg.connect(roles.reader_url, autocommit=True) as conn:
        for statement in (
            "UPDATE awa.jobs_hot SET priority = 1",
            "DELETE FROM awa.jobs_hot",
            "SELECT awa.ensure_terminal_partitions()",
            "SELECT awa.drop_terminal_partitions('jobs_completed', now())",
            "SELECT nextval('awa.jobs_id_seq')",
        ):
            with pytest.raises(psycopg.Error) as raised:
                conn.execute(statement)
            assert raised.value.sqlstate == DENIED, statement
    with awa.Client(database_url) as owner:
        assert owner.get_job(job.id).state == awa.JobState.AVAILABLE


def test_grant_roles_refuses_unknown_roles_and_bad_names(database_url: str, db) -> None:
    with awa.Client(database_url) as owner:
        with pytest.raises(awa.ConfigError, match="do not exist"):
            owner.grant_roles(worker=f"nobody_{uuid.uuid4().hex[:8]}")
        with pytest.raises(awa.ValidationError):
            owner.grant_roles()
        with pytest.raises(awa.ValidationError):
            owner.grant_roles(reader="x" * 64)
        with pytest.raises(awa.ValidationError):
            owner.grant_roles(reader="bad\x00name")


def test_awa_roles_command_prints_and_applies(roles: Roles, database_url: str) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "awa.cli.main", "roles", "--sql", "--reader", 'odd"name'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert 'GRANT SELECT ON ALL TABLES IN SCHEMA awa TO "odd""name";' in printed.stdout
    applied = subprocess.run(
        [
            sys.executable,
            "-m",
            "awa.cli.main",
            "--database-url",
            database_url,
            "roles",
            "--worker",
            roles.worker,
            "--reader",
            roles.reader,
        ],
        capture_output=True,
        text=True,
    )
    assert applied.returncode == 0, applied.stderr
    assert roles.worker in applied.stdout
