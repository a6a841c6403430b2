"""The HTTP callback receiver: signed requests resolve parked jobs; bad,
unsigned, tampered and replayed requests are refused and change nothing."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from typing import Any

import anyio
import httpx
import pytest

import awa
from awa import JobState
from awa.callbacks import callback_url, signed_headers
from awa.web.callbacks import callback_app
from tests.integration.test_callbacks import Tokens, park, parking_worker, start

pytestmark = pytest.mark.pg

SECRET = "http-test-secret-0123456789abcdef"


def http(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://awa")


def signed(callback_id: object, body: Any, **kw: Any) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {**signed_headers(SECRET, str(callback_id), raw, **kw), "content-type": "json"}


async def post(
    web: httpx.AsyncClient, callback_id: object, action: str, body: Any, **kw: Any
) -> httpx.Response:
    raw, headers = signed(callback_id, body, **kw)
    return await web.post(f"/api/callbacks/{callback_id}/{action}", content=raw, headers=headers)


async def test_signed_complete_fail_heartbeat_and_resume(client) -> None:
    tokens = Tokens()
    parking_worker(client, tokens)
    async with client, http(callback_app(client, secret=SECRET)) as web:
        start(client)
        done = await park(client, tokens)
        answer = await post(web, done.id, "complete", {"payload": {"ok": True}})
        assert answer.status_code == 200
        assert answer.json() == {
            "job_id": done.job_id,
            "state": "completed",
            "outcome": "completed",
        }
        job = await client.get_job(done.job_id)
        assert job.metadata["awa:callback_payload"] == {"ok": True}

        failed = await park(client, tokens)
        answer = await post(web, failed.id, "fail", {"error": "card declined"})
        assert answer.json()["state"] == "failed"
        assert (await client.get_job(failed.job_id)).errors[-1]["message"] == "card declined"

        waiting = await park(client, tokens)
        answer = await post(web, waiting.id, "heartbeat", {"timeout_seconds": 7200})
        assert answer.json()["state"] == "waiting_external"
        answer = await post(web, waiting.id, "resume", {"payload": {"step": 2}})
        assert answer.status_code == 200
        assert (await client.wait_for(waiting.job_id, timeout=20)).state == JobState.COMPLETED


async def test_cel_rules_apply_over_http(client) -> None:
    tokens = Tokens()
    parking_worker(client, tokens, filter="payload.final == true")
    async with client, http(callback_app(client, secret=SECRET)) as web:
        start(client)
        token = await park(client, tokens)
        answer = await post(web, token.id, "complete", {"payload": {"final": False}})
        assert answer.status_code == 200
        assert answer.json() == {"job_id": None, "state": None, "outcome": "ignored"}
        assert (await client.get_job(token.job_id)).state == JobState.WAITING_EXTERNAL
        answer = await post(web, token.id, "complete", {"payload": {"final": True}})
        assert answer.json()["outcome"] == "completed"


async def test_refused_requests_change_nothing(client) -> None:
    tokens = Tokens()
    parking_worker(client, tokens)
    async with client, http(callback_app(client, secret=SECRET, max_body=4096)) as web:
        start(client)
        token = await park(client, tokens)
        path = f"/api/callbacks/{token.id}/complete"
        raw, headers = signed(token.id, {"payload": 1})

        async def status(**request: Any) -> int:
            request.setdefault("content", raw)
            request.setdefault("headers", headers)
            return (await web.post(request.pop("path", path), **request)).status_code

        assert await status(headers={}) == 401  # unsigned
        assert await status(headers={**headers, "X-Awa-Signature": "00" * 32}) == 401
        assert await status(content=json.dumps({"payload": 2}).encode()) == 401  # tampered body
        other = uuid.uuid4()
        assert await status(path=f"/api/callbacks/{other}/complete") == 401  # signed for another id
        old_raw, old_headers = signed(token.id, {"payload": 1}, timestamp=int(time.time()) - 3600)
        assert await status(content=old_raw, headers=old_headers) == 401  # replayed late
        assert await status(headers={**headers, "X-Awa-Timestamp": "soon"}) == 401

        bad = b"{not json"
        assert await status(content=bad, headers=signed_headers(SECRET, str(token.id), bad)) == 400
        listed = b"[1, 2]"
        assert (
            await status(content=listed, headers=signed_headers(SECRET, str(token.id), listed))
            == 400
        )
        raw_fail, fail_headers = signed(token.id, {"error": ""})
        assert (
            await status(
                path=f"/api/callbacks/{token.id}/fail", content=raw_fail, headers=fail_headers
            )
            == 400
        )
        raw_bad, bad_headers = signed("nope", {"payload": 1})
        assert (
            await status(path="/api/callbacks/nope/complete", content=raw_bad, headers=bad_headers)
            == 400
        )
        assert await status(path=f"/api/callbacks/{token.id}/explode") == 404
        huge, huge_headers = signed(token.id, {"payload": "x" * 10_000})
        assert await status(content=huge, headers=huge_headers) == 413
        raw_unknown, unknown_headers = signed(other, {"payload": 1})
        assert (
            await status(
                path=f"/api/callbacks/{other}/complete",
                content=raw_unknown,
                headers=unknown_headers,
            )
            == 404
        )
        answer = await web.get(path)
        assert answer.status_code == 405

        job = await client.get_job(token.job_id)
        assert job.state == JobState.WAITING_EXTERNAL
        assert job.callback_id == token.id

        assert await status() == 200
        assert await status() == 404  # the same request again: resolved at most once
        replies = [await web.post(path, content=raw, headers=headers) for _ in range(2)]
        assert all("Traceback" not in r.text for r in replies)


async def test_unsigned_mode_must_be_asked_for(client) -> None:
    with pytest.raises(awa.ConfigError):
        callback_app(client, secret=None)
    tokens = Tokens()
    parking_worker(client, tokens)
    async with client, http(callback_app(client, secret=None, allow_unsigned=True)) as web:
        start(client)
        token = await park(client, tokens)
        answer = await web.post(f"/api/callbacks/{token.id}/complete", json={"payload": 1})
        assert answer.status_code == 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_awa_callbacks_serve_process(client, database_url, anyio_backend) -> None:
    tokens = Tokens()
    parking_worker(client, tokens)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "AWA_CALLBACK_SECRET": SECRET}
    command = [sys.executable, "-m", "awa", "callbacks", "serve", "--port", str(port)]
    async with (
        client,
        await anyio.open_process([*command, "--backend", anyio_backend], env=env) as server,
    ):
        start(client)
        token = await park(client, tokens)
        assert server.stderr is not None
        seen = b""
        with anyio.fail_after(20):
            async for chunk in server.stderr:
                seen += chunk
                if b"Running on" in seen:
                    break
        assert b"Running on" in seen, seen.decode(errors="replace")
        url = callback_url(f"http://127.0.0.1:{port}", token.id, "complete")
        raw, headers = signed(token.id, {"payload": {"via": "http"}})
        async with httpx.AsyncClient() as web:
            answer = await web.post(url, content=raw, headers=headers)
        assert answer.status_code == 200
        assert answer.json()["state"] == "completed"
        server.terminate()
        assert await server.wait() == 0


async def test_the_web_ui_mounts_the_receiver_behind_signatures_not_the_token(client) -> None:
    from awa.web.app import create_app
    from awa.web.callbacks import CallbackReceiver

    token = "ui-token-0123456789abcdef"
    tokens = Tokens()
    parking_worker(client, tokens)
    receiver = CallbackReceiver(client, secret=SECRET)
    async with client, http(create_app(client, token=token, callbacks=receiver)) as web:
        start(client)
        parked = await park(client, tokens)
        # The UI still wants its token ...
        assert (await web.get("/api/stats")).status_code == 401
        # ... an unsigned callback is refused and changes nothing ...
        unsigned = await web.post(f"/api/callbacks/{parked.id}/complete", json={"payload": 1})
        assert unsigned.status_code == 401
        assert (await client.get_job(parked.job_id)).state == JobState.WAITING_EXTERNAL
        # ... and a signed one needs no UI token or CSRF cookie.
        answer = await post(web, parked.id, "complete", {"payload": {"ok": True}})
        assert answer.status_code == 200
        assert answer.json()["state"] == "completed"


async def test_a_read_only_or_prefixless_ui_refuses_the_receiver(client) -> None:
    from awa.web.app import create_app
    from awa.web.callbacks import CallbackReceiver

    async with client:
        with pytest.raises(awa.ConfigError, match="read-only"):
            create_app(client, read_only=True, callbacks=CallbackReceiver(client, secret=SECRET))
        with pytest.raises(awa.ConfigError, match="prefix"):
            create_app(client, callbacks=CallbackReceiver(client, secret=SECRET, prefix="/"))


def test_awa_serve_callbacks_needs_a_secret_or_consent(monkeypatch, capsys) -> None:
    from awa.cli.main import main

    monkeypatch.delenv("AWA_CALLBACK_SECRET", raising=False)
    url = "postgresql://u:pw@127.0.0.1:1/x"
    assert main(["--database-url", url, "serve", "--port", "0", "--callbacks"]) == 2
    assert "AWA_CALLBACK_SECRET" in capsys.readouterr().err
    argv = ["--database-url", url, "serve", "--port", "0", "--callbacks", "--read-only"]
    monkeypatch.setenv("AWA_CALLBACK_SECRET", SECRET)
    assert main(argv) == 2
    assert "--read-only" in capsys.readouterr().err
