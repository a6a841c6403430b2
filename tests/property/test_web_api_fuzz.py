"""Whatever the query string or path, the API answers 200 or a 4xx JSON error,
never a 500 (hypothesis-generated input against a real database)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import awa
from awa.web.app import create_app
from tests.helpers import SendEmail

pytestmark = pytest.mark.pg

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ["failed", "available", "0", "-1", "1" * 30, "%", "_", "' OR 1=1 --"]
)


class Http:
    """Sync calls into an httpx client on the ASGI app, through an anyio portal."""

    def __init__(self, portal: Any, http: httpx.AsyncClient) -> None:
        self.portal = portal
        self.http = http

    def get(self, path: str) -> httpx.Response:
        return self.portal.call(self.http.get, path)  # type: ignore[no-any-return]

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.portal.call(functools.partial(self.http.post, path, **kwargs))  # type: ignore[no-any-return]

    @property
    def cookies(self) -> httpx.Cookies:
        return self.http.cookies


@pytest.fixture
def http(database_url: str) -> Iterator[Http]:
    with start_blocking_portal() as portal:
        client = awa.AsyncClient(database_url, max_connections=2)
        transport = httpx.ASGITransport(app=create_app(client))
        session = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        portal.call(client.insert, SendEmail("a", "b"))
        wrapped = Http(portal, session)
        wrapped.get("/")
        try:
            yield wrapped
        finally:
            portal.call(session.aclose)
            portal.call(client.close)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["state", "queue", "kind", "q", "limit", "cursor", "minutes"]),
        text,
        max_size=4,
    ),
    path=st.sampled_from(["/api/jobs", "/api/stats/timeseries", "/jobs", "/api/queues"]),
)
def test_query_strings_never_crash(http: Http, params: dict[str, str], path: str) -> None:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    response = http.get(f"{path}?{query}")
    assert response.status_code in (200, 400), (path, params, response.text)
    if path.startswith("/api/"):
        assert "error" in response.json() or response.status_code == 200


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(segment=text.filter(lambda s: s not in ("", ".", "..")))
def test_path_segments_never_crash(http: Http, segment: str) -> None:
    quoted = quote(segment, safe="")
    for path in (f"/api/jobs/{quoted}", f"/jobs/{quoted}"):
        response = http.get(path)
        # A segment of slashes decodes to a trailing slash: Starlette redirects.
        assert response.status_code in (200, 307, 400, 404), (path, response.text)
    token = http.cookies.get("awa_csrf")
    response = http.post(f"/api/queues/{quoted}/pause", headers={"x-csrf-token": token or ""})
    assert response.status_code in (200, 400, 403, 404), response.text
