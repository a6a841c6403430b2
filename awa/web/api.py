"""The JSON API under ``/api`` (described by ``/api/openapi.json``).

Mutations accept a JSON object (or a form, from the HTML pages, which then
get redirected back) and need the CSRF token unless sent with the bearer
token; see ``awa.web.security``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

import awa
from awa.web.encode import job_summary, jsonable
from awa.web.openapi import openapi_schema
from awa.web.problems import Problem, bad_request
from awa.web.security import read_mutation, safe_next
from awa.web.state import ui

MAX_PAGE = 200


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise bad_request(f"{name}: expected an integer in {low}..{high}")
    return int(raw)


def query_text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value or None


def path_job_id(request: Request) -> int:
    raw = request.path_params["job_id"]
    if not raw.isdigit() or not 0 < len(raw) < 19 or int(raw) < 1:
        raise bad_request(f"job id: expected a positive integer, got {raw!r}")
    return int(raw)


async def list_jobs_page(request: Request, limit: int) -> awa.JobPage:
    return await ui(request).client.list_jobs(
        state=query_text(request, "state"),
        kind=query_text(request, "kind"),
        queue=query_text(request, "queue"),
        search=query_text(request, "q"),
        cursor=query_text(request, "cursor"),
        limit=limit,
    )


def done(request: Request, form: Any, value: Any, default_next: str) -> Response:
    """The mutation's answer: JSON, or a redirect for an HTML form."""
    if form is not None:
        return RedirectResponse(safe_next(form.get("next"), default_next), status_code=303)
    return JSONResponse(jsonable(value))


# -- reads ------------------------------------------------------------------


async def capabilities(request: Request) -> Response:
    state = ui(request)
    return JSONResponse(
        {
            "read_only": await state.read_only(),
            "auth_required": state.token is not None,
            "version": awa.__version__,
        }
    )


async def stats(request: Request) -> Response:
    return JSONResponse({"states": await ui(request).client.job_state_counts()})


async def timeseries(request: Request) -> Response:
    minutes = query_int(request, "minutes", 60, 1, 1440)
    buckets = await ui(request).client.throughput(minutes)
    return JSONResponse({"minutes": minutes, "buckets": jsonable(buckets)})


async def jobs(request: Request) -> Response:
    page = await list_jobs_page(request, query_int(request, "limit", 50, 1, MAX_PAGE))
    return JSONResponse({"jobs": [job_summary(j) for j in page], "next_cursor": page.next_cursor})


async def job(request: Request) -> Response:
    return JSONResponse(jsonable(await ui(request).client.get_job(path_job_id(request))))


async def kinds(request: Request) -> Response:
    return JSONResponse({"kinds": await ui(request).client.job_kinds()})


async def queues(request: Request) -> Response:
    return JSONResponse({"queues": jsonable(await ui(request).client.queue_stats())})


async def cron(request: Request) -> Response:
    return JSONResponse({"schedules": jsonable(await ui(request).client.list_cron_jobs())})


async def runtime(request: Request) -> Response:
    instances = await ui(request).client.runtime_instances()
    return JSONResponse({"instances": jsonable(instances)})


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_schema())


# -- mutations --------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]


def mutation(
    action: Callable[[Request, awa.AsyncClient, dict[str, Any]], Awaitable[Any]],
    default_next: Callable[[Request], str],
) -> Handler:
    async def endpoint(request: Request) -> Response:
        form, body = await read_mutation(request)
        state = ui(request)
        if await state.read_only():
            raise Problem(503, "read_only", "the UI is read-only: nothing can be changed")
        value = await action(request, state.client, body)
        return done(request, form, value, default_next(request))

    return endpoint


def text_field(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name}: expected a string")
    return value


async def retry_job(request: Request, client: awa.AsyncClient, body: dict[str, Any]) -> Any:
    return await client.retry(path_job_id(request))


async def cancel_job(request: Request, client: awa.AsyncClient, body: dict[str, Any]) -> Any:
    reason = text_field(body, "reason") or "cancelled from the awa UI"
    return await client.cancel(path_job_id(request), reason=reason)


async def pause_queue(request: Request, client: awa.AsyncClient, body: dict[str, Any]) -> Any:
    queue = request.path_params["queue"]
    await client.pause_queue(queue, paused_by=text_field(body, "paused_by") or "awa UI")
    return {"queue": queue, "paused": True}


async def resume_queue(request: Request, client: awa.AsyncClient, body: dict[str, Any]) -> Any:
    queue = request.path_params["queue"]
    await client.resume_queue(queue)
    return {"queue": queue, "paused": False}


async def drain_queue(request: Request, client: awa.AsyncClient, body: dict[str, Any]) -> Any:
    queue = request.path_params["queue"]
    return {"queue": queue, "cancelled": await client.drain_queue(queue)}


async def trigger_cron(request: Request, client: awa.AsyncClient, body: dict[str, Any]) -> Any:
    return await client.trigger_cron(request.path_params["name"])


async def pause_cron(request: Request, client: awa.AsyncClient, body: dict[str, Any]) -> Any:
    name = request.path_params["name"]
    return await client.pause_cron(name, paused_by=text_field(body, "paused_by") or "awa UI")


async def resume_cron(request: Request, client: awa.AsyncClient, body: dict[str, Any]) -> Any:
    return await client.resume_cron(request.path_params["name"])


async def retry_failed(request: Request, client: awa.AsyncClient, body: dict[str, Any]) -> Any:
    result = await client.retry_failed(
        kind=text_field(body, "kind"), queue=text_field(body, "queue")
    )
    return {"retried": result.retried, "unique_conflicts": result.unique_conflicts}


async def discard_failed(request: Request, client: awa.AsyncClient, body: dict[str, Any]) -> Any:
    if body.get("confirm") != "yes":
        raise bad_request('deleting failed jobs needs "confirm": "yes"')
    discarded = await client.discard_failed(
        text_field(body, "kind"), queue=text_field(body, "queue")
    )
    return {"discarded": discarded}


def to_job(request: Request) -> str:
    return f"/jobs/{request.path_params['job_id']}"


def to(path: str) -> Callable[[Request], str]:
    return lambda _request: path


routes = [
    Route("/api/openapi.json", openapi),
    Route("/api/capabilities", capabilities),
    Route("/api/stats", stats),
    Route("/api/stats/timeseries", timeseries),
    Route("/api/jobs", jobs),
    Route("/api/jobs/retry-failed", mutation(retry_failed, to("/jobs")), methods=["POST"]),
    Route("/api/jobs/discard-failed", mutation(discard_failed, to("/jobs")), methods=["POST"]),
    Route("/api/jobs/{job_id}", job),
    Route("/api/jobs/{job_id}/retry", mutation(retry_job, to_job), methods=["POST"]),
    Route("/api/jobs/{job_id}/cancel", mutation(cancel_job, to_job), methods=["POST"]),
    Route("/api/kinds", kinds),
    Route("/api/queues", queues),
    Route("/api/queues/{queue}/pause", mutation(pause_queue, to("/queues")), methods=["POST"]),
    Route("/api/queues/{queue}/resume", mutation(resume_queue, to("/queues")), methods=["POST"]),
    Route("/api/queues/{queue}/drain", mutation(drain_queue, to("/queues")), methods=["POST"]),
    Route("/api/cron", cron),
    Route("/api/cron/{name}/trigger", mutation(trigger_cron, to("/cron")), methods=["POST"]),
    Route("/api/cron/{name}/pause", mutation(pause_cron, to("/cron")), methods=["POST"]),
    Route("/api/cron/{name}/resume", mutation(resume_cron, to("/cron")), methods=["POST"]),
    Route("/api/runtime", runtime),
]
