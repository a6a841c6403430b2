"""The awa pytest plugin, as a user's test suite sees it (run with pytester)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.pg

pytest_plugins = ["pytester"]

USER_TESTS = """
from dataclasses import dataclass

import pytest

import awa


@dataclass
class SendEmail:
    to: str


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_inline_work(awa_client, awa_test_client):
    sent = []

    @awa_client.worker(SendEmail)
    async def send(job):
        sent.append(job.args.to)

    await awa_client.insert(SendEmail("a@example.com"))
    await awa_test_client.assert_enqueued(kind="send_email", args={"to": "a@example.com"})
    [result] = await awa_test_client.drain()
    assert result.outcome == "completed"
    await awa_test_client.assert_not_enqueued(kind="send_email")
    assert sent == ["a@example.com"]


@pytest.mark.anyio
async def test_each_test_has_its_own_database(awa_client, awa_test_client):
    assert await awa_test_client.jobs(state=list(awa.JobState)) == []
    await awa_client.insert(SendEmail("b@example.com"))


def test_sync_fixtures(awa_sync_client, awa_sync_test_client, awa_database_url):
    assert awa_sync_client.database_url == awa_database_url

    @awa_sync_client.worker(SendEmail)
    def send(job):
        raise awa.TerminalError("bounced")

    awa_sync_client.insert(SendEmail("c@example.com"))
    [result] = awa_sync_test_client.drain()
    assert result.outcome == "failed"
    assert result.error["message"] == "bounced"
"""


def test_the_plugin_gives_each_test_a_migrated_database(pytester, pg_admin_url) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest(
        "-p", "awa.testing.plugin", "-p", "anyio", f"--awa-database-url={pg_admin_url}"
    )
    result.assert_outcomes(passed=5)


def test_without_a_server_the_plugin_says_how_to_give_one(pytester, monkeypatch) -> None:
    for name in ("AWA_TEST_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_user="def test_x(awa_database_url):\n    pass\n")
    result = pytester.runpytest("-p", "awa.testing.plugin")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--awa-database-url*"])
