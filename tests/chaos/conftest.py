"""Fixtures of the fault suite: a private PostgreSQL server it may restart."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

import awa
from tests.chaos.harness import RECORDS
from tests.chaos.private_pg import PrivatePostgres, find_bin_dir

_names = itertools.count(1)


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of our own (the shared one must never be restarted)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries (system or pgserver wheel) to run a private server")
    # A stopped (SIGSTOP) worker must not hold row locks forever.
    server = PrivatePostgres(bin_dir, settings={"idle_in_transaction_session_timeout": "'5s'"})
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def chaos_url(private_pg: PrivatePostgres) -> str:
    """A migrated database on the private server, with the span/effect tables."""
    url = private_pg.create_database(f"chaos_{next(_names)}")
    with awa.Client(url, max_connections=1) as client:
        client.migrate()
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(RECORDS)
    return url
