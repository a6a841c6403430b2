"""The worker's HTTP health endpoints (asyncio and trio): /healthz, /readyz."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import httpx
import pytest

import awa
from tests.fixtures.fix_db import DatabaseFactory, database_name
from tests.runtime_helpers import fast, wait_signal

pytestmark = pytest.mark.pg


@dataclass
class Ping:
    n: int = 0


def _base(client: awa.AsyncClient) -> str:
    runtime = client.runtime
    assert runtime is not None
    assert runtime.health_server is not None
    return f"http://127.0.0.1:{runtime.health_server.port}"


async def test_readyz_fails_once_the_database_is_gone(
    client: awa.AsyncClient, database_url: str, database_factory: DatabaseFactory
) -> None:
    @client.worker(Ping)
    async def handle(job: awa.JobContext) -> None:
        return None

    async with client:
        client.start(["default"], **fast(health_port=0))
        await client.wait_started()
        await wait_signal(client, "leader_elected")
        base = _base(client)
        async with httpx.AsyncClient(base_url=base, timeout=20) as http:
            alive = await http.get("/healthz")
            assert alive.status_code == 200
            assert alive.json()["status"] == "ok"
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            body = ready.json()
            assert body["status"] == "ok"
            assert body["checks"]["postgres_connected"] is True
            assert body["queues"]["default"]["dispatcher_alive"] is True

            # This test's own database: dropped, its connections terminated.
            database_factory.drop(database_name(database_url))

            gone = await http.get("/readyz")
            assert gone.status_code == 503
            body = gone.json()
            assert body["status"] == "unavailable"
            assert body["checks"]["postgres_connected"] is False
            assert "postgres_connected" in body["reason"]
            still = await http.get("/healthz")
            assert still.status_code == 200
        await client.shutdown(timeout=1)


async def test_readyz_is_unavailable_while_draining(client: awa.AsyncClient) -> None:
    holding, release = anyio.Event(), anyio.Event()

    @client.worker(Ping)
    async def handle(job: awa.JobContext) -> None:
        holding.set()
        await release.wait()

    async with client:
        client.start(["default"], **fast(health_port=0))
        await client.wait_started()
        base = _base(client)
        await client.insert(Ping())
        await holding.wait()
        async with (
            httpx.AsyncClient(base_url=base, timeout=20) as http,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(client.shutdown)
            await wait_signal(client, "draining")
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["reason"] == "shutting down"
            alive = await http.get("/healthz")
            assert alive.status_code == 200
            assert alive.json()["state"] == "draining"
            release.set()


async def test_unknown_paths_and_methods_are_refused(client: awa.AsyncClient) -> None:
    @client.worker(Ping)
    async def handle(job: awa.JobContext) -> None:
        return None

    async with client:
        client.start(["default"], **fast(health_port=0))
        await client.wait_started()
        async with httpx.AsyncClient(base_url=_base(client), timeout=20) as http:
            assert (await http.get("/nope")).status_code == 404
            assert (await http.post("/readyz")).status_code == 405
            head = await http.head("/healthz")
            assert head.status_code == 200
            assert head.content == b""
        await client.shutdown()


@pytest.mark.parametrize(
    ("option", "value"),
    [("health_port", -1), ("health_port", 70000), ("health_port", "80"), ("health_host", "")],
)
async def test_bad_health_options_are_refused(
    client: awa.AsyncClient, option: str, value: object
) -> None:
    @client.worker(Ping)
    async def handle(job: awa.JobContext) -> None:
        return None

    with pytest.raises(awa.ConfigError, match=option):
        await client.run(["default"], **{option: value})


async def test_a_taken_port_fails_the_start_clearly(
    client: awa.AsyncClient, database_url: str
) -> None:
    @client.worker(Ping)
    async def handle(job: awa.JobContext) -> None:
        return None

    async with client:
        client.start(["default"], **fast(health_port=0))
        await client.wait_started()
        runtime = client.runtime
        assert runtime is not None
        assert runtime.health_server is not None
        taken = runtime.health_server.port
        async with awa.AsyncClient(database_url) as other:

            @other.worker(Ping)
            async def handle_other(job: awa.JobContext) -> None:
                return None

            with pytest.raises(awa.AwaError, match=f"cannot listen on 127.0.0.1:{taken}"):
                await other.run(["default"], health_port=taken)
        await client.shutdown()
