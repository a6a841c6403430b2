"""The admin web app: ``create_app(client)`` gives an ASGI app (Starlette) that
runs under asyncio or trio (e.g. with hypercorn's trio worker).

Served by ``awa serve``; see docs/web-ui.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

import awa
from awa.web import api, pages
from awa.web.callbacks import CallbackReceiver
from awa.web.problems import Problem, from_awa_error
from awa.web.security import Guard, problem_response
from awa.web.state import UIState

logger = logging.getLogger("awa.web")

STATIC = Path(__file__).parent / "static"


async def on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(request, exc)


async def on_awa_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, awa.AwaError)
    problem = from_awa_error(exc)
    if problem.status >= 500:
        logger.error("%s %s failed: %r", request.method, request.url.path, exc)
    return problem_response(request, problem)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "no such page", 405: "method not allowed"}
    message = messages.get(exc.status_code, "request refused")
    return problem_response(request, Problem(exc.status_code, "http", message))


def create_app(
    client: awa.AsyncClient,
    *,
    read_only: bool = False,
    token: str | None = None,
    title: str = "awa",
    allowed_hosts: Sequence[str] | None = None,
    callbacks: CallbackReceiver | None = None,
) -> Starlette:
    """The UI and JSON API for ``client``'s database.

    ``read_only`` refuses every change (it is also turned on by itself when
    the database is read-only). With ``token`` every request must carry it
    (``Authorization: Bearer``) or log in with it. The client stays the
    caller's to close. ``allowed_hosts`` (names, without ports) refuses
    requests whose ``Host`` is another name (421). ``callbacks`` mounts that
    receiver's signed ``POST {prefix}/{id}/{action}`` routes, which its
    signatures guard instead of the token.
    """
    if token is not None and len(token) < 16:
        raise awa.ConfigError("token: use at least 16 characters", field="token")
    if callbacks is not None and not callbacks.prefix:
        raise awa.ConfigError(
            "callbacks mounted in the UI need a path prefix (e.g. /api/callbacks)",
            field="callbacks",
        )
    if callbacks is not None and read_only:
        raise awa.ConfigError(
            "a read-only UI cannot receive callbacks: they resolve jobs", field="callbacks"
        )
    app = Starlette(
        routes=[
            *(callbacks.routes() if callbacks is not None else []),
            *api.routes,
            *pages.routes,
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            Middleware(
                Guard,
                token=token,
                allowed_hosts=allowed_hosts,
                signed_prefix=None if callbacks is None else callbacks.prefix,
            )
        ],
        exception_handlers={
            Problem: on_problem,
            awa.AwaError: on_awa_error,
            HTTPException: on_http_error,
        },
    )
    app.state.ui = UIState(client, forced_read_only=read_only, token=token, title=title)
    return app
