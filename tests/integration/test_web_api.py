"""The JSON API under /api, on asyncio and trio, through httpx's ASGI transport
(and once through a real hypercorn server): every endpoint, bad input, CSRF,
read-only mode, token auth and generic 500s."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import psycopg
import pytest
from starlette.routing import Route

import awa
from awa.web.app import create_app
from tests.helpers import SendEmail, force_failed, force_running

pytestmark = pytest.mark.pg

TOKEN = "correct-horse-battery-staple"


class Web:
    """An httpx client on the app, with the CSRF cookie fetched."""

    def __init__(self, http: httpx.AsyncClient, app: Any) -> None:
        self.http = http
        self.app = app

    @property
    def csrf(self) -> str:
        return str(self.http.cookies["awa_csrf"])

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"x-csrf-token": self.csrf, **kwargs.pop("headers", {})}
        return await self.http.post(path, headers=headers, **kwargs)


async def open_web(client: awa.AsyncClient, **options: Any) -> AsyncIterator[Web]:
    app = create_app(client, **options)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        first = await http.get("/api/openapi.json", headers=bearer() if "token" in options else {})
        assert first.status_code == 200
        yield Web(http, app)


def bearer() -> dict[str, str]:
    return {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def web(client: awa.AsyncClient) -> AsyncIterator[Web]:
    async for w in open_web(client):
        yield w


async def seed(client: awa.AsyncClient, db: psycopg.Connection[Any]) -> dict[str, int]:
    ids = (await client.insert_many([SendEmail(f"u{i}", "hi") for i in range(5)])).ids
    report = await client.insert(
        {"name": "<script>alert(1)</script>"}, kind="report", queue="reports", tags=["nightly"]
    )
    force_failed(db, ids[0])
    running = ids[1]
    force_running(db, running)
    client.periodic("nightly", "0 3 * * *", SendEmail, SendEmail("ops", "report"))
    await client.sync_periodic()
    return {"failed": ids[0], "running": running, "available": ids[2], "report": report.id}


async def test_reads(web: Web, client: awa.AsyncClient, db) -> None:
    ids = await seed(client, db)
    caps = (await web.http.get("/api/capabilities")).json()
    assert caps == {"read_only": False, "auth_required": False, "version": awa.__version__}
    states = (await web.http.get("/api/stats")).json()["states"]
    assert states["failed"] == 1
    assert states["running"] == 1
    assert states["available"] == 4
    series = (await web.http.get("/api/stats/timeseries?minutes=5")).json()
    assert len(series["buckets"]) == 5
    assert series["buckets"][-1]["failed"] == 1
    assert (await web.http.get("/api/kinds")).json() == {"kinds": ["report", "send_email"]}
    queues = (await web.http.get("/api/queues")).json()["queues"]
    assert [q["queue"] for q in queues] == ["default", "reports"]
    (schedule,) = (await web.http.get("/api/cron")).json()["schedules"]
    assert schedule["name"] == "nightly"
    assert schedule["next_fire_at"]
    assert (await web.http.get("/api/runtime")).json() == {"instances": []}
    job = (await web.http.get(f"/api/jobs/{ids['report']}")).json()
    assert job["args"] == {"name": "<script>alert(1)</script>"}
    assert job["tags"] == ["nightly"]


async def test_job_list_filters_and_keyset_paging(web: Web, client: awa.AsyncClient, db) -> None:
    ids = await seed(client, db)
    listed = (await web.http.get("/api/jobs?state=failed")).json()
    assert [j["id"] for j in listed["jobs"]] == [ids["failed"]]
    seen: list[int] = []
    cursor = ""
    while True:
        page = (await web.http.get(f"/api/jobs?queue=default&limit=2&cursor={cursor}")).json()
        seen += [j["id"] for j in page["jobs"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert len(seen) == 5
    assert seen == sorted(seen, reverse=True)
    found = (await web.http.get("/api/jobs?q=SCRIPT")).json()["jobs"]
    assert [j["id"] for j in found] == [ids["report"]]
    found = (await web.http.get(f"/api/jobs?q={ids['available']}")).json()["jobs"]
    assert ids["available"] in [j["id"] for j in found]  # the id, and args containing it
    assert (await web.http.get("/api/jobs?q=100%25")).json()["jobs"] == []  # % is literal
    assert (await web.http.get("/api/jobs?kind=report&q=nightly")).json()["jobs"][0]["kind"] == (
        "report"
    )


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/jobs?state=nope", 400),
        ("/api/jobs?limit=0", 400),
        ("/api/jobs?limit=abc", 400),
        ("/api/jobs?limit=201", 400),
        ("/api/jobs?cursor=xyz", 400),
        ("/api/jobs?q=" + "x" * 201, 400),
        ("/api/jobs?queue=" + "q" * 201, 400),
        ("/api/jobs/abc", 400),
        ("/api/jobs/0", 400),
        ("/api/jobs/99999999999999999999", 400),
        ("/api/jobs/424242", 404),
        ("/api/stats/timeseries?minutes=0", 400),
        ("/api/stats/timeseries?minutes=-5", 400),
        ("/api/stats/timeseries?minutes=1441", 400),
        ("/api/nope", 404),
    ],
)
async def test_bad_reads(web: Web, path: str, status: int) -> None:
    response = await web.http.get(path)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert "Traceback" not in response.text


async def test_mutations(web: Web, client: awa.AsyncClient, db) -> None:
    ids = await seed(client, db)
    retried = await web.post(f"/api/jobs/{ids['failed']}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] == "available"
    cancelled = await web.post(f"/api/jobs/{ids['available']}/cancel", json={"reason": "nope"})
    assert cancelled.json()["errors"][-1]["message"] == "nope"
    assert (await web.post(f"/api/jobs/{ids['running']}/retry")).status_code == 409
    assert (await web.post("/api/jobs/424242/cancel")).status_code == 404
    assert (await web.post("/api/jobs/x/cancel")).status_code == 400
    bad = await web.post(f"/api/jobs/{ids['report']}/cancel", json={"reason": 5})
    assert bad.status_code == 400
    bad = await web.post(
        f"/api/jobs/{ids['report']}/cancel",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert bad.status_code == 400
    bad = await web.post(f"/api/jobs/{ids['report']}/cancel", json=[1, 2])
    assert bad.status_code == 400

    paused = await web.post("/api/queues/reports/pause", json={"paused_by": "test"})
    assert paused.json() == {"queue": "reports", "paused": True}
    assert [q.paused for q in await client.queue_stats() if q.queue == "reports"] == [True]
    assert (await web.post("/api/queues/reports/resume")).json()["paused"] is False
    drained = await web.post("/api/queues/default/drain")
    assert drained.json() == {"queue": "default", "cancelled": 3}

    triggered = await web.post("/api/cron/nightly/trigger")
    assert triggered.json()["metadata"]["triggered_manually"] is True
    assert (await web.post("/api/cron/nightly/pause")).json()["paused_at"] is not None
    assert (await web.post("/api/cron/nightly/resume")).json()["paused_at"] is None
    assert (await web.post("/api/cron/nope/trigger")).status_code == 404
    assert (await web.http.get(f"/api/jobs/{ids['failed']}/retry")).status_code == 405


def post_routes(app: Any) -> list[str]:
    paths = []
    for route in app.routes:
        if isinstance(route, Route) and "POST" in (route.methods or ()):
            paths.append(re.sub(r"\{\w+\}", "x", route.path.replace("{job_id}", "1")))
    return paths


async def test_every_mutation_needs_the_csrf_token(web: Web, client: awa.AsyncClient) -> None:
    job = await client.insert(SendEmail("a", "b"))
    paths = post_routes(web.app)
    assert len(paths) == 12  # 10 API mutations, login, logout
    for path in paths:
        for headers in ({}, {"x-csrf-token": "wrong" * 9}):
            response = await web.http.post(path, headers=headers)
            assert response.status_code == 403, (path, response.text)
        cross = await web.post(path, headers={"origin": "http://evil.example"})
        assert cross.status_code == 403, path
        cross = await web.post(path, headers={"sec-fetch-site": "cross-site"})
        assert cross.status_code == 403, path
    form = await web.http.post(f"/api/jobs/{job.id}/cancel", data={"csrf_token": "forged"})
    assert form.status_code == 403
    assert (await client.get_job(job.id)).state is awa.JobState.AVAILABLE
    same_origin = await web.post(
        f"/api/jobs/{job.id}/cancel", headers={"origin": "http://testserver"}
    )
    assert same_origin.status_code == 200


async def test_bulk_retry_and_discard_failed(web: Web, client: awa.AsyncClient, db) -> None:
    ids = (await client.insert_many([SendEmail(str(i), "s") for i in range(3)])).ids
    other = await client.insert({"x": 1}, kind="report", queue="reports")
    for job_id in (*ids, other.id):
        force_failed(db, job_id)
    retried = await web.post("/api/jobs/retry-failed", json={"queue": "default"})
    assert retried.json() == {"retried": 3, "unique_conflicts": 0}
    refused = await web.post("/api/jobs/discard-failed", json={"kind": "report"})
    assert refused.status_code == 400
    assert "confirm" in refused.json()["error"]["message"]
    assert (await web.post("/api/jobs/retry-failed", json={"queue": 7})).status_code == 400
    assert (await web.post("/api/jobs/retry-failed", json={"kind": "a\x00"})).status_code == 400
    discarded = await web.post(
        "/api/jobs/discard-failed", json={"kind": "report", "confirm": "yes"}
    )
    assert discarded.json() == {"discarded": 1}
    assert (await client.job_state_counts())["failed"] == 0
    form = await web.http.post(
        "/api/jobs/retry-failed",
        data={"csrf_token": web.csrf, "queue": "", "kind": "", "next": "/jobs?state=failed"},
    )
    assert form.status_code == 303
    assert form.headers["location"] == "/jobs?state=failed"


async def test_forms_redirect_back(web: Web, client: awa.AsyncClient) -> None:
    job = await client.insert(SendEmail("a", "b"))
    response = await web.http.post(
        "/api/queues/default/pause", data={"csrf_token": web.csrf, "next": "/queues?x=1"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/queues?x=1"
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = await web.http.post(
            f"/api/jobs/{job.id}/cancel", data={"csrf_token": web.csrf, "next": evil}
        )
        assert response.status_code in (303, 409)
        if response.status_code == 303:
            assert response.headers["location"] == f"/jobs/{job.id}"


async def test_forced_read_only(client: awa.AsyncClient) -> None:
    job = await client.insert(SendEmail("a", "b"))
    async for web in open_web(client, read_only=True):
        assert (await web.http.get("/api/capabilities")).json()["read_only"] is True
        for path in post_routes(web.app):
            if path.startswith("/api/"):
                path = path.replace("/1/", f"/{job.id}/")
                response = await web.post(path)
                assert response.status_code == 503, path
                assert response.json()["error"]["code"] == "read_only"
        page = await web.http.get(f"/jobs/{job.id}")
        assert "read-only" in page.text
        assert 'disabled title="read-only"' in page.text
    assert (await client.get_job(job.id)).state is awa.JobState.AVAILABLE


async def test_read_only_database_is_detected(database_url: str, db) -> None:
    name = db.info.dbname
    db.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    async with awa.AsyncClient(database_url) as fresh:
        async for web in open_web(fresh):
            assert (await web.http.get("/api/capabilities")).json()["read_only"] is True
            response = await web.post("/api/queues/default/pause")
            assert response.status_code == 503
            assert (await web.http.get("/api/queues")).status_code == 200


async def test_token_auth(client: awa.AsyncClient) -> None:
    job = await client.insert(SendEmail("a", "b"))
    async for web in open_web(client, token=TOKEN):
        assert (await web.http.get("/api/stats")).status_code == 401
        assert (
            await web.http.get("/api/stats", headers={"authorization": "Bearer nope"})
        ).status_code == 401
        assert (await web.http.get("/api/stats", headers=bearer())).status_code == 200
        page = await web.http.get("/jobs?state=failed")
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2Fjobs%3Fstate%3Dfailed"
        # A bearer request needs no CSRF token (a browser never sends the header itself).
        cancel = await web.http.post(f"/api/jobs/{job.id}/cancel", headers=bearer())
        assert cancel.status_code == 200
        # Without it, a mutation is refused before anything else.
        assert (await web.http.post("/api/queues/default/pause")).status_code == 401

        login = await web.http.get("/login")
        assert login.status_code == 200
        wrong = await web.http.post(
            "/login", data={"csrf_token": web.csrf, "token": "wrong", "next": "/jobs"}
        )
        assert wrong.status_code == 401
        assert "Wrong token" in wrong.text
        assert "awa_session" not in web.http.cookies
        right = await web.http.post(
            "/login", data={"csrf_token": web.csrf, "token": TOKEN, "next": "/jobs"}
        )
        assert right.status_code == 303
        assert right.headers["location"] == "/jobs"
        assert TOKEN not in right.headers["set-cookie"]
        assert (await web.http.get("/jobs")).status_code == 200
        assert (await web.http.get("/api/stats")).status_code == 200
        assert (await web.post("/api/queues/default/pause")).status_code == 200
        assert (await web.post("/logout")).status_code == 303
        assert (await web.http.get("/api/stats")).status_code == 401
    with pytest.raises(awa.ConfigError):
        create_app(client, token="short")


async def test_unexpected_errors_stay_in_the_log(
    web: Web, client: awa.AsyncClient, monkeypatch, caplog
) -> None:
    async def boom() -> None:
        raise RuntimeError("secret internals at /srv/app.py line 42")

    monkeypatch.setattr(client, "queue_stats", boom)
    with caplog.at_level(logging.ERROR, logger="awa.web"):
        api = await web.http.get("/api/queues")
        page = await web.http.get("/queues")
    assert api.status_code == 500
    assert api.json() == {
        "error": {"code": "internal", "message": "internal error; see the server log"}
    }
    assert page.status_code == 500
    assert "internal error" in page.text
    for response in (api, page):
        assert "secret internals" not in response.text
        assert "Traceback" not in response.text
    assert "secret internals" in caplog.text


async def test_database_down_is_a_503(database_url: str) -> None:
    dead = awa.AsyncClient("postgresql://nobody:pw@127.0.0.1:1/none", connect_timeout=2)
    try:
        async for web in open_web(dead):
            response = await web.http.get("/api/stats")
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "database_unavailable"
            assert "pw" not in response.text
    finally:
        await dead.close()


async def test_openapi_describes_every_api_route(web: Web) -> None:
    schema = (await web.http.get("/api/openapi.json")).json()
    assert schema["openapi"].startswith("3.")
    routes = {
        route.path
        for route in web.app.routes
        if isinstance(route, Route) and route.path.startswith("/api/")
    }
    assert set(schema["paths"]) == routes
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert method in ("get", "post"), path
            assert "200" in operation["responses"], path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_real_hypercorn_server(client: awa.AsyncClient, anyio_backend: str) -> None:
    """The same app under hypercorn's asyncio or trio worker, over TCP."""
    from awa.cli.serving import serve

    await client.insert(SendEmail("a", "b"))
    port = free_port()
    app = create_app(client)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: serve(app, "127.0.0.1", port, stop=stop))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(200):
                try:
                    response = await http.get("/api/stats")
                    break
                except httpx.ConnectError:
                    await anyio.sleep(0.02)
            assert response.json()["states"]["available"] == 1
            page = await http.get("/")
            assert page.status_code == 200
            assert page.headers["x-frame-options"] == "DENY"
            pause = await http.post(
                "/api/queues/default/pause",
                headers={"x-csrf-token": http.cookies["awa_csrf"]},
            )
            assert pause.status_code == 200
        stop.set()
    assert (await client.queue_stats())[0].paused


async def test_host_check_defeats_dns_rebinding(client: awa.AsyncClient) -> None:
    from awa.cli.serve import allowed_hosts

    hosts = allowed_hosts("127.0.0.1", None, ["ops.internal"])
    app = create_app(client, allowed_hosts=hosts)
    transport = httpx.ASGITransport(app=app)
    for base, status in [
        ("http://localhost:3000", 200),
        ("http://127.0.0.1:3000", 200),
        ("http://[::1]:3000", 200),
        ("http://ops.internal", 200),
        ("http://attacker.example:3000", 421),
        ("http://127.0.0.1.attacker.example", 421),
    ]:
        async with httpx.AsyncClient(transport=transport, base_url=base) as http:
            response = await http.get("/api/stats")
            assert response.status_code == status, base
    assert allowed_hosts("0.0.0.0", TOKEN, []) is None  # the token guards
