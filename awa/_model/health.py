"""What ``health_check()`` reports."""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class QueueHealth:
    in_flight: int
    max_workers: int
    claimed: int
    dispatcher_alive: bool


@attrs.frozen(kw_only=True)
class HealthCheck:
    """``healthy`` is true when the database answers and every loop is alive
    (and the runtime is not shutting down). ``leader`` is informational."""

    healthy: bool
    postgres_connected: bool
    listener_connected: bool
    dispatchers_alive: bool
    heartbeat_alive: bool
    completer_alive: bool
    leader_loop_alive: bool
    leader: bool
    running: bool
    shutting_down: bool
    queues: dict[str, QueueHealth]
