"""Shared test set-up: backends, database fixtures, markers (see pyproject)."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# CI runs the same examples every time (a red build is then reproducible, never
# noise); HYPOTHESIS_PROFILE=explore searches afresh on each run.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

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
