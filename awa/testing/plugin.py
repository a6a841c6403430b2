"""The awa pytest plugin: a migrated throwaway database per test, and clients on it.

Loaded automatically once awa is installed (entry point ``pytest11``); turn
it off with ``-p no:awa.testing.plugin``. The server comes from
``--awa-database-url``, the ``awa_database_url`` ini option,
``$AWA_TEST_DATABASE_URL`` or ``$DATABASE_URL`` (first found); its user must
be allowed to create databases.

Fixtures:
    awa_database_url: a fresh migrated database (conninfo string), dropped after.
    awa_client: an ``awa.AsyncClient`` on it (async; closed after the test).
    awa_test_client: an ``AwaTestClient`` around ``awa_client`` (async).
    awa_sync_client: an ``awa.Client`` on it.
    awa_sync_test_client: a ``SyncAwaTestClient`` around ``awa_sync_client``.

Async fixtures need an async test runner: anyio's pytest plugin (tests
marked ``anyio``, or ``anyio_mode = "auto"``: asyncio and trio), or
pytest-asyncio in auto mode.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from awa.client import Client
from awa.client_async import AsyncClient
from awa.testing._client import AwaTestClient, SyncAwaTestClient
from awa.testing._databases import TestDatabases

ENV = ("AWA_TEST_DATABASE_URL", "DATABASE_URL")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("awa", "awa job queue")
    group.addoption(
        "--awa-database-url",
        default=None,
        help="PostgreSQL server for awa's test databases (its user must be allowed to"
        " create databases); default $AWA_TEST_DATABASE_URL or $DATABASE_URL",
    )
    parser.addini("awa_database_url", "PostgreSQL server for awa's test databases", default="")


def _server_url(config: pytest.Config) -> str:
    found = config.getoption("--awa-database-url") or config.getini("awa_database_url")
    for name in ENV:
        found = found or os.environ.get(name, "")
    if not found:
        raise pytest.UsageError(
            "awa.testing needs a PostgreSQL server where it may create databases: pass"
            " --awa-database-url, set awa_database_url in the pytest ini, or set"
            " $AWA_TEST_DATABASE_URL or $DATABASE_URL"
        )
    return str(found)


@pytest.fixture(scope="session")
def awa_test_databases(pytestconfig: pytest.Config) -> Iterator[TestDatabases]:
    """The session's template database, migrated once; dropped at the end."""
    databases = TestDatabases(_server_url(pytestconfig))
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture
def awa_database_url(awa_test_databases: TestDatabases) -> Iterator[str]:
    """A migrated database of this test's own, dropped after it."""
    name = awa_test_databases.create()
    try:
        yield awa_test_databases.url(name)
    finally:
        awa_test_databases.drop(name)


@pytest.fixture
async def awa_client(awa_database_url: str) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(awa_database_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def awa_test_client(awa_client: AsyncClient) -> AwaTestClient:
    return AwaTestClient(awa_client)


@pytest.fixture
def awa_sync_client(awa_database_url: str) -> Iterator[Client]:
    with Client(awa_database_url) as client:
        yield client


@pytest.fixture
def awa_sync_test_client(awa_sync_client: Client) -> Iterator[SyncAwaTestClient]:
    with SyncAwaTestClient(awa_sync_client) as tester:
        yield tester
