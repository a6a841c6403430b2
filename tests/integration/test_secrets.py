"""A password in the database URL never shows: not in reprs, error messages,
tracebacks, log records or the CLI's output."""

from __future__ import annotations

import logging
import subprocess
import sys
import traceback
from dataclasses import dataclass

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import awa
from tests.runtime_helpers import fast, wait_finalized

pytestmark = [pytest.mark.pg]

SECRET = "s3cr3t-Pa55w0rd"


@dataclass
class Hush:
    n: int


def everything_said(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(everything_said(record.exc_info[1]))
    return "\n".join(parts)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://someone:{SECRET}@127.0.0.1:1/nowhere",
        f"host=127.0.0.1 port=1 user=someone password={SECRET} dbname=nowhere",
        f"postgresql://someone@127.0.0.1:1/nowhere?password={SECRET}",
    ],
)
async def test_connection_failures_do_not_show_the_password(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = awa.AsyncClient(url, connect_timeout=2)
    assert SECRET not in repr(client)
    with pytest.raises(awa.ConnectionFailed) as raised:
        await client.insert(Hush(1), queue="q")
    assert SECRET not in everything_said(raised.value)
    await client.close()
    assert SECRET not in logged(caplog)


def test_invalid_urls_do_not_show_the_password() -> None:
    for url in (
        f"postgresql://someone:{SECRET}@127.0.0.1:notaport/db",
        f"host=127.0.0.1 password={SECRET} port=1 bogus_option=1",
    ):
        with pytest.raises(awa.AwaError) as raised, awa.Client(url) as client:
            client.insert(Hush(1), queue="q")
        assert SECRET not in everything_said(raised.value)


async def test_worker_logs_do_not_show_the_password(
    database_url: str, db: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """The server trusts the user, so the password is accepted and ignored;
    cut the worker's connections so it logs its reconnects."""
    caplog.set_level(logging.DEBUG)
    url = make_conninfo(database_url, password=SECRET)
    client = awa.AsyncClient(url)

    @client.worker(Hush, queue="hush")
    async def hush(job: awa.JobContext) -> None:
        pass

    async with client:
        client.start([("hush", 2)], **fast())
        await client.wait_started()
        job = await client.insert(Hush(1), queue="hush")
        await wait_finalized(client, job.id)
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND application_name LIKE 'awa%%'"
        )
        second = None
        failures: list[str] = []
        while second is None:  # an idle pooled connection was cut: the first use fails
            try:
                second = await client.insert(Hush(2), queue="hush")
            except awa.ConnectionFailed as exc:
                failures.append(everything_said(exc))
        assert not any(SECRET in failure for failure in failures)
        await wait_finalized(client, second.id)
        assert SECRET not in repr(client)
        await client.shutdown()
    await client.close()
    said = logged(caplog)
    assert "connection" in said.lower()  # it did log the faults
    assert SECRET not in said


def test_cli_output_does_not_show_the_password() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "awa.cli.main",
            "--database-url",
            f"postgresql://someone:{SECRET}@127.0.0.1:1/nowhere",
            "migrate",
            "--version",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert SECRET not in result.stdout + result.stderr
