"""Migrations: idempotent, concurrent-safe, refuse a newer schema, --sql/--version/--pending."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

import awa
from awa import SchemaNotMigrated, SchemaTooNew, ValidationError
from tests.helpers import SendEmail

pytestmark = pytest.mark.pg


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "awa.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


async def test_migrate_is_idempotent(blank_database_url: str) -> None:
    async with awa.AsyncClient(blank_database_url) as client:
        assert (await client.migration_status()).pending == tuple(
            range(1, awa.LATEST_SCHEMA_VERSION + 1)
        )
        assert await client.migrate() == list(range(1, awa.LATEST_SCHEMA_VERSION + 1))
        assert await client.migrate() == []
        status = await client.migration_status()
        assert status.up_to_date
        assert status.current == awa.LATEST_SCHEMA_VERSION


def test_sync_migrate_is_idempotent(blank_database_url: str) -> None:
    with awa.Client(blank_database_url) as client:
        assert client.migrate() == list(range(1, awa.LATEST_SCHEMA_VERSION + 1))
        assert client.migrate() == []


def test_ten_processes_migrating_at_once_agree(blank_database_url: str) -> None:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "awa.cli.main",
                "--database-url",
                blank_database_url,
                "migrate",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(10)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 10, outputs
    applied = [out for out, _ in outputs if '"applied": []' not in out]
    assert len(applied) == 1, outputs
    with psycopg.connect(blank_database_url) as conn:
        rows = conn.execute("SELECT version FROM awa.schema_version ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, awa.LATEST_SCHEMA_VERSION + 1))


async def test_newer_schema_is_refused_and_left_alone(database_url: str, db) -> None:
    db.execute(
        "INSERT INTO awa.schema_version (version, description) VALUES (%s, 'from the future')",
        (awa.LATEST_SCHEMA_VERSION + 1,),
    )
    async with awa.AsyncClient(database_url) as client:
        with pytest.raises(SchemaTooNew, match="newer"):
            await client.migrate()
    rows = db.execute("SELECT count(*) AS n FROM awa.schema_version").fetchone()
    assert rows["n"] == awa.LATEST_SCHEMA_VERSION + 1


async def test_unmigrated_database_gets_a_clear_error(blank_database_url: str) -> None:
    async with awa.AsyncClient(blank_database_url) as client:
        with pytest.raises(SchemaNotMigrated, match="awa migrate"):
            await client.insert(SendEmail("a", "b"))
        with pytest.raises(SchemaNotMigrated):
            await client.get_job(1)


def test_cli_reports_version_pending_and_sql(blank_database_url: str) -> None:
    url = ["--database-url", blank_database_url]
    assert run_cli(*url, "migrate", "--version").stdout.strip() == "0"
    pending = run_cli(*url, "migrate", "--pending").stdout.split()
    assert pending == [str(v) for v in range(1, awa.LATEST_SCHEMA_VERSION + 1)]
    sql = run_cli("migrate", "--sql")
    assert sql.returncode == 0
    assert "CREATE TABLE awa.jobs_hot" in sql.stdout
    done = run_cli(*url, "migrate")
    assert done.returncode == 0
    assert "applied" in done.stdout
    assert run_cli(*url, "migrate").stdout.strip() == "schema up to date"
    assert run_cli(*url, "migrate", "--version").stdout.strip() == str(awa.LATEST_SCHEMA_VERSION)


def test_cli_without_a_database_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = run_cli("migrate")
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr


def test_cli_hides_the_password_of_an_unreachable_database() -> None:
    result = run_cli("--database-url", "postgresql://u:s3cret@127.0.0.1:1/x", "migrate")
    assert result.returncode == 5  # docs/cli.md: the database is unreachable
    assert "s3cret" not in result.stderr + result.stdout


def test_printed_sql_builds_the_same_schema(blank_database_url: str) -> None:
    with psycopg.connect(blank_database_url, autocommit=True) as conn:
        conn.execute(awa.migration_sql())  # type: ignore[arg-type]
    with awa.Client(blank_database_url) as client:
        assert client.migration_status().up_to_date
        assert client.migrate() == []


@pytest.mark.parametrize(("after", "upto"), [(-1, None), (0, 999), (True, None), (1, 0)])
def test_migration_sql_rejects_bad_ranges(after: object, upto: object) -> None:
    with pytest.raises(ValidationError):
        awa.migration_sql(after, upto)  # type: ignore[arg-type]
