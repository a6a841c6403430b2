"""Shared test set-up: backends, database fixtures, markers (see pyproject)."""

from __future__ import annotations

import pytest

pytest_plugins = (
    "tests.fixtures.fix_db",
    "tests.fixtures.fix_bridge",
    "tests.fixtures.fix_otel",
    "tests.fixtures.fix_pgbouncer",
)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs once per backend."""
    return str(request.param)
