"""Testing helpers for applications that use awa.

``AwaTestClient`` runs jobs inline, in the test's own task, with the
workers' claim, handler runner and fenced outcome writes (no runtime, no
background tasks), checks what was enqueued, and has a fake clock for
scheduled jobs and retries. The pytest plugin (``awa.testing.plugin``,
registered as a ``pytest11`` entry point) gives each test a migrated
throwaway database and clients on it. See docs/testing.md.
"""

from __future__ import annotations

from awa.testing._client import (
    PENDING,
    AwaTestClient,
    FakeClock,
    SyncAwaTestClient,
    WorkResult,
)
from awa.testing._databases import TestDatabases

__all__ = (
    "PENDING",
    "AwaTestClient",
    "FakeClock",
    "SyncAwaTestClient",
    "TestDatabases",
    "WorkResult",
)
