"""``awa health``: database, schema, live workers and a worker's HTTP endpoint.

Exit 0 healthy, 1 unhealthy, 2 bad usage.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import psycopg
import pytest

import awa
from awa.cli.main import main
from tests.runtime_helpers import fast, wait_signal

pytestmark = pytest.mark.pg


@dataclass
class Ping:
    n: int = 0


def health(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class Endpoint:
    """A stand-in worker health server: answers GET /readyz with ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = json.dumps({"status": "ok", "queues": {}}).encode()
        self.paths: list[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint.paths.append(self.path)
                self.send_response(endpoint.status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(endpoint.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    ep = Endpoint()
    thread = threading.Thread(target=ep.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ep
    finally:
        ep.server.shutdown()
        ep.server.server_close()
        thread.join()


def add_instance(db: psycopg.Connection[Any], *, seen_ago: float) -> None:
    """A worker's snapshot row, as the runtime's reporter writes it."""
    db.execute(
        "INSERT INTO awa.runtime_instances (instance_id, hostname, pid, version, last_seen_at)"
        " VALUES (%s, 'host', 1, 'test', now() - make_interval(secs => %s))",
        (uuid.uuid4(), seen_ago),
    )


def test_healthy_database(capsys, database_url) -> None:
    code, out, err = health(capsys, "--database-url", database_url, "health")
    assert code == 0, out + err
    assert [line.split()[:2] for line in out.splitlines()] == [
        ["ok", "database"],
        ["ok", "schema"],
        ["ok", "workers"],
    ]


def test_live_workers_are_counted(capsys, database_url, db) -> None:
    code, out, _ = health(capsys, "--database-url", database_url, "health", "--min-live", "1")
    assert code == 1
    assert "FAIL  workers   0 live" in out
    add_instance(db, seen_ago=300)
    code, out, _ = health(capsys, "--database-url", database_url, "health", "--min-live", "1")
    assert code == 1
    assert "1 stale or stopping" in out
    add_instance(db, seen_ago=1)
    code, out, _ = health(
        capsys, "--database-url", database_url, "health", "--min-live", "1", "--json"
    )
    report = json.loads(out)
    assert code == 0
    assert report["healthy"] is True
    assert report["checks"][2] == {
        "name": "workers",
        "ok": True,
        "detail": "1 live worker process(es), 1 stale or stopping",
    }


def test_unmigrated_and_unreachable_databases(capsys, blank_database_url) -> None:
    code, out, _ = health(capsys, "--database-url", blank_database_url, "health")
    assert code == 1
    assert "FAIL  schema" in out
    assert "awa migrate" in out
    code, out, _ = health(
        capsys,
        "--database-url",
        "postgresql://nobody:pw-secret@127.0.0.1:1/none",
        "health",
        "--connect-timeout",
        "2",
    )
    assert code == 1
    assert "FAIL  database" in out
    assert "pw-secret" not in out


def test_endpoint_ready_and_not_ready(capsys, endpoint, monkeypatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, out, _ = health(capsys, "health", "--endpoint", endpoint.url)
    assert code == 0, out
    assert endpoint.paths == ["/readyz"]
    assert "HTTP 200, status 'ok'" in out

    endpoint.status = 503
    endpoint.body = json.dumps({"status": "starting"}).encode()
    code, out, _ = health(capsys, "health", "--endpoint", endpoint.url + "/readyz", "--json")
    assert code == 1
    assert json.loads(out)["checks"][0]["detail"].endswith("HTTP 503, status 'starting'")

    endpoint.status = 200
    endpoint.body = b"not json"
    assert health(capsys, "health", "--endpoint", endpoint.url)[0] == 1


def test_endpoint_and_database_together(capsys, endpoint, database_url) -> None:
    host_port = endpoint.url.removeprefix("http://")
    code, out, _ = health(capsys, "--database-url", database_url, "health", "--endpoint", host_port)
    assert code == 0, out
    assert len(out.splitlines()) == 4


def test_unreachable_endpoint(capsys, monkeypatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, out, _ = health(
        capsys, "health", "--endpoint", "http://127.0.0.1:1/readyz", "--connect-timeout", "2"
    )
    assert code == 1
    assert "unreachable" in out


def test_usage_errors(capsys, monkeypatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for argv, message in [
        (["health"], "nothing to check"),
        (["health", "--endpoint", "ftp://x/y"], "http(s) URL"),
        (["health", "--endpoint", "http://127.0.0.1:9", "--min-live", "-1"], "--min-live"),
        (["health", "--endpoint", "http://127.0.0.1:9", "--stale-after", "0"], "--stale-after"),
        (["health", "--min-live", "many"], "invalid int"),
    ]:
        code, _, err = health(capsys, *argv)
        assert code == 2, argv
        assert message in err, (argv, err)


async def test_against_a_real_worker(capsys, client: awa.AsyncClient, database_url: str) -> None:
    """``awa health`` on a running runtime: its /readyz endpoint and its snapshot."""

    @client.worker(Ping)
    async def handle(job: awa.JobContext) -> None:
        return None

    async with client:
        client.start(["default"], **fast(health_port=0))
        await client.wait_started()
        await wait_signal(client, "leader_elected")
        runtime = client.runtime
        assert runtime is not None
        assert runtime.health_server is not None
        endpoint = f"127.0.0.1:{runtime.health_server.port}"
        argv = ["--database-url", database_url, "health", "--endpoint", endpoint, "--json"]
        code = await anyio.to_thread.run_sync(main, argv)
        report = json.loads(capsys.readouterr().out)
        assert code == 0, report
        assert [c["name"] for c in report["checks"]] == [
            "database",
            "schema",
            "workers",
            "endpoint",
        ]
        assert report["checks"][3]["detail"].endswith("/readyz: HTTP 200, status 'ok'")
        await client.shutdown()
    code = await anyio.to_thread.run_sync(main, ["health", "--endpoint", endpoint])
    assert code == 1
    assert "unreachable" in capsys.readouterr().out
