"""The HTML pages render the database's data, escape it, and their forms work."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import awa
from tests.helpers import SendEmail, force_failed, force_running
from tests.integration.test_web_api import Web, open_web, seed

pytestmark = pytest.mark.pg


@pytest.fixture
async def web(client: awa.AsyncClient) -> AsyncIterator[Web]:
    async for w in open_web(client):
        yield w


def text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def test_every_page_shows_the_data(web: Web, client: awa.AsyncClient, db) -> None:
    ids = await seed(client, db)
    dashboard = text(await web.http.get("/"))
    assert 'id="state-counts"' in dashboard
    assert '<svg class="chart"' in dashboard
    assert f'href="/jobs/{ids["failed"]}"' in dashboard  # recent failures
    assert 'data-queue="reports"' in dashboard

    jobs = text(await web.http.get("/jobs"))
    assert len(re.findall(r"data-job-id=", jobs)) == 6
    failed = text(await web.http.get("/jobs?state=failed"))
    assert re.findall(r'data-job-id="(\d+)"', failed) == [str(ids["failed"])]
    assert 'id="retry-all-failed"' in failed
    assert 'id="retry-all-failed"' not in jobs  # only on the failed list
    searched = text(await web.http.get("/jobs?q=nightly&queue=reports"))
    assert re.findall(r'data-job-id="(\d+)"', searched) == [str(ids["report"])]

    detail = text(await web.http.get(f"/jobs/{ids['report']}"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    assert "<script>alert(1)" not in detail
    assert 'id="timeline"' in detail

    assert 'data-schedule="nightly"' in text(await web.http.get("/cron"))
    assert "No worker process has reported" in text(await web.http.get("/runtime"))
    queues = text(await web.http.get("/queues"))
    assert "/api/queues/default/drain" in queues


async def test_job_detail_shows_errors_progress_and_actions(
    web: Web, client: awa.AsyncClient, db
) -> None:
    job = await client.insert(SendEmail("a", "b"))
    db.execute(
        "UPDATE awa.jobs_hot SET progress = %s, errors = %s WHERE id = %s",
        (
            '{"percent": 40, "message": "item 4/10", "metadata": {"last_item": 4}}',
            '[{"attempt": 1, "at": "2026-01-01T00:00:00+00:00", "type": "ConnectionError",'
            ' "message": "source went away"}]',
            job.id,
        ),
    )
    force_failed(db, job.id)
    page = text(await web.http.get(f"/jobs/{job.id}"))
    assert '<progress max="100" value="40">' in page
    assert "item 4/10" in page
    assert "source went away" in page
    assert "attempt 1: ConnectionError" in page
    assert f'action="/api/jobs/{job.id}/retry"' in page
    assert f'action="/api/jobs/{job.id}/cancel"' not in page  # failed: nothing to cancel

    retried = await web.http.post(
        f"/api/jobs/{job.id}/retry", data={"csrf_token": web.csrf, "next": f"/jobs/{job.id}"}
    )
    assert retried.status_code == 303
    page = text(await web.http.get(retried.headers["location"]))
    assert 'class="state state-available"' in page


async def test_jobs_page_keyset_paging(web: Web, client: awa.AsyncClient) -> None:
    await client.insert_many([SendEmail(f"u{i}", "s") for i in range(60)])
    first = text(await web.http.get("/jobs?queue=default"))
    shown = re.findall(r'data-job-id="(\d+)"', first)
    assert len(shown) == 50
    link = re.search(r'href="(/jobs\?[^"]+)" id="next-page"', first)
    assert link is not None
    second = text(await web.http.get(link.group(1).replace("&amp;", "&")))
    rest = re.findall(r'data-job-id="(\d+)"', second)
    assert len(rest) == 10
    assert int(rest[0]) < int(shown[-1])
    assert 'id="first-page"' in second
    assert 'id="next-page"' not in second


async def test_bad_input_on_pages(web: Web, client: awa.AsyncClient, db) -> None:
    for path, status in [
        ("/jobs/abc", 400),
        ("/jobs/999999", 404),
        ("/jobs?state=bogus", 400),
        ("/jobs?cursor=zz", 400),
        ("/nope", 404),
    ]:
        response = await web.http.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"].startswith("text/html")
        assert "Traceback" not in response.text
    job = await client.insert(SendEmail("a", "b"))
    force_running(db, job.id)
    refused = await web.http.post(
        f"/api/jobs/{job.id}/retry", data={"csrf_token": web.csrf, "next": "/"}
    )
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("text/html")


async def test_auto_refresh(web: Web) -> None:
    assert 'http-equiv="refresh"' not in text(await web.http.get("/"))
    assert '<meta http-equiv="refresh" content="5">' in text(await web.http.get("/?refresh=5"))
    for ignored in ("1", "abc", "99999", "-5"):
        assert 'http-equiv="refresh"' not in text(await web.http.get(f"/?refresh={ignored}"))


async def test_security_headers(web: Web) -> None:
    response = await web.http.get("/")
    headers: Any = response.headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    css = await web.http.get("/static/awa.css")
    assert css.status_code == 200
