"""Health endpoints over HTTP, for probes: ``GET /healthz`` and ``GET /readyz``.

A tiny HTTP/1.1 server on an anyio TCP listener (no web framework), started
by the runtime when ``health_port`` is set. ``/healthz`` answers 200 while
the process and its event loop are up (also while draining): answering at
all shows the loop is responsive; the loop lag it measures is reported.
``/readyz`` answers 200 only while the runtime runs, the database answers
and every service loop is alive, else 503 naming the reason.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import attrs
from anyio.abc import SocketAttribute, SocketStream, TaskStatus
from anyio.streams.stapled import MultiListener

from awa._model.health import HealthCheck
from awa.errors import AwaError

logger = logging.getLogger("awa.health")

MAX_HEAD = 8192
READ_TIMEOUT = 5.0
TICK = 0.5
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS[503] = "Service Unavailable"


def readiness(check: HealthCheck, state: str) -> tuple[int, dict[str, Any]]:
    """The ``/readyz`` status and body for a health check."""
    body: dict[str, Any] = {
        "status": "ok" if check.healthy else "unavailable",
        "state": state,
        "leader": check.leader,
        "checks": {
            name: getattr(check, name)
            for name in (
                "postgres_connected",
                "listener_connected",
                "dispatchers_alive",
                "heartbeat_alive",
                "completer_alive",
                "leader_loop_alive",
            )
        },
        "queues": {name: attrs.asdict(q) for name, q in check.queues.items()},
    }
    if check.healthy:
        return 200, body
    if check.shutting_down:
        reason = "shutting down"
    elif not check.running:
        reason = f"runtime {state}"
    else:
        failed = [name for name, ok in body["checks"].items() if not ok]
        reason = "failed: " + ", ".join(failed)
    body["reason"] = reason
    return 503, body


class HealthServer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        health: Callable[[], Awaitable[HealthCheck]],
        state: Callable[[], str],
    ) -> None:
        self.host = host
        self.port = port
        self.health = health
        self.state = state
        self.loop_lag = 0.0
        self._last_tick = time.monotonic()
        self._listener: MultiListener[SocketStream] | None = None

    async def bind(self) -> None:
        """Listen (before ``run()``, so a taken port fails the start plainly)."""
        try:
            listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port)
        except OSError as exc:
            raise AwaError(
                f"health endpoints: cannot listen on {self.host}:{self.port}: {exc}"
            ) from exc
        self._listener = listener
        self.port = listener.listeners[0].extra(SocketAttribute.local_port)
        logger.info("health endpoints on http://%s:%d/healthz and /readyz", self.host, self.port)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        if self._listener is None:
            await self.bind()
        listener, self._listener = self._listener, None
        assert listener is not None
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(self._tick)
            task_status.started()
            await listener.serve(self._serve, task_group=tg)

    async def _tick(self) -> None:
        """Measure how late the event loop wakes a sleeper (its lag)."""
        while True:
            before = time.monotonic()
            await anyio.sleep(TICK)
            self._last_tick = time.monotonic()
            self.loop_lag = max(0.0, self._last_tick - before - TICK)

    async def _serve(self, stream: SocketStream) -> None:
        async with stream:
            try:
                with anyio.fail_after(READ_TIMEOUT):
                    head = await _read_head(stream)
                    status, body = await self._route(head)
                    response = _response(status, body)
                    if head is not None and head.startswith(b"HEAD "):
                        response = response.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                    await stream.send(response)
            except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                pass

    async def _route(self, head: bytes | None) -> tuple[int, dict[str, Any]]:
        if head is None:
            return 400, {"status": "error", "reason": "malformed request"}
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3:
            return 400, {"status": "error", "reason": "malformed request line"}
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if target not in (b"/healthz", b"/readyz"):
            return 404, {"status": "error", "reason": "unknown path (try /healthz or /readyz)"}
        if method not in (b"GET", b"HEAD"):
            return 405, {"status": "error", "reason": "use GET"}
        if target == b"/healthz":
            return 200, {
                "status": "ok",
                "state": self.state(),
                "loop_lag_seconds": round(self.loop_lag, 6),
            }
        return readiness(await self.health(), self.state())


async def _read_head(stream: SocketStream) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD:
            return None
        data += await stream.receive()
    return data.split(b"\r\n\r\n", 1)[0]


def _response(status: int, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + payload
