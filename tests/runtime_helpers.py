"""Helpers for runtime tests: fast service intervals and waiting on signals."""

from __future__ import annotations

from typing import Any

import awa

# Service intervals short enough for tests (seconds).
FAST: dict[str, Any] = {
    "heartbeat_interval": 0.3,
    "heartbeat_staleness": 1.0,
    "rescue_interval": 0.3,
    "promote_interval": 0.01,
    "leader_election_interval": 0.3,
    "leader_check_interval": 0.5,
    "drain_timeout": 5.0,
}


def fast(**changes: Any) -> dict[str, Any]:
    return {**FAST, **changes}


async def wait_finalized(
    client: awa.AsyncClient, job_id: int, action: str | None = None, timeout: float = 20.0
) -> dict[str, Any]:
    """Wait until the runtime wrote an outcome for ``job_id`` (of ``action``, if given)."""
    return await client._signals.wait_for(
        "job_finalized",
        lambda d: d["id"] == job_id and (action is None or d["action"] == action),
        timeout=timeout,
    )


async def wait_signal(
    client: awa.AsyncClient, signal: str, /, timeout: float = 20.0, **match: Any
) -> dict[str, Any]:
    """The first ``signal`` whose data has every ``match`` item."""
    return await client._signals.wait_for(
        signal, lambda d: all(d.get(k) == v for k, v in match.items()), timeout=timeout
    )
