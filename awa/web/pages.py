"""The HTML pages: server-rendered Jinja2 templates, forms for every action."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

import awa
from awa.web.api import list_jobs_page, path_job_id, query_text
from awa.web.chart import throughput_svg
from awa.web.encode import jsonable
from awa.web.security import SESSION_COOKIE, read_mutation, safe_next, same, session_value
from awa.web.state import ui

PAGE_SIZE = 50
STATES = [s.value for s in awa.JobState]

# Lenient undefined: job errors, progress and snapshots are free-form JSON.
env = jinja2.Environment(
    loader=jinja2.PackageLoader("awa.web", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
)


def when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def ago(value: datetime | None) -> str:
    if value is None:
        return ""
    seconds = (datetime.now(UTC) - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if seconds >= size or unit == "s":
            text = f"{int(seconds // size)}{unit}"
            return f"in {text}" if future else f"{text} ago"
    return ""


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def pretty(value: Any) -> str:
    return json.dumps(jsonable(value), indent=2, sort_keys=True)


env.filters.update(when=when, ago=ago, pretty=pretty)


def refresh_seconds(request: Request) -> int | None:
    """``?refresh=N`` (2..3600) reloads the page every N seconds; else none."""
    raw = request.query_params.get("refresh", "")
    return int(raw) if raw.isdigit() and 2 <= int(raw) <= 3600 else None


async def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    state = ui(request)
    html = env.get_template(template).render(
        request=request,
        csrf=request.state.csrf,
        read_only=await state.read_only(),
        auth_required=state.token is not None,
        title=state.title,
        version=awa.__version__,
        path=request.url.path,
        refresh=refresh_seconds(request),
        **context,
    )
    return HTMLResponse(html, status_code=status)


async def dashboard(request: Request) -> Response:
    client = ui(request).client
    counts = await client.job_state_counts()
    buckets = await client.throughput(60)
    failures = await client.list_jobs(state="failed", limit=10)
    return await render(
        request,
        "dashboard.html",
        counts=counts,
        chart=Markup(throughput_svg(buckets)),
        finished_last_hour=sum(b.total for b in buckets),
        queues=await client.queue_stats(),
        failures=list(failures),
        instances=await client.runtime_instances(),
    )


async def jobs(request: Request) -> Response:
    client = ui(request).client
    page = await list_jobs_page(request, PAGE_SIZE)
    filters = {k: query_text(request, k) or "" for k in ("state", "queue", "kind", "q")}
    next_query = {k: v for k, v in filters.items() if v}
    if page.next_cursor:
        next_query["cursor"] = page.next_cursor
    queues = sorted({s.queue for s in await client.queue_stats()} | {filters["queue"]} - {""})
    return await render(
        request,
        "jobs.html",
        page=page,
        filters=filters,
        states=STATES,
        queues=queues,
        kinds=await client.job_kinds(),
        next_query=next_query if page.next_cursor else None,
        paged=bool(query_text(request, "cursor")),
    )


async def job(request: Request) -> Response:
    found = await ui(request).client.get_job(path_job_id(request))
    events = [("created", found.created_at), ("run at", found.run_at)]
    if found.attempted_at:
        events.append(("last attempt started", found.attempted_at))
    for error in found.errors:
        at = error.get("at")
        stamp = parse_time(at)
        label = f"attempt {error.get('attempt', '?')}: {error.get('type', 'error')}"
        if stamp is not None:
            events.append((label, stamp))
    if found.finalized_at:
        events.append((found.state.value, found.finalized_at))
    events.sort(key=lambda e: e[1])
    progress = found.progress or {}
    return await render(
        request,
        "job.html",
        job=found,
        timeline=events,
        percent=progress.get("percent"),
        progress=progress,
        can_retry=found.state.value
        in ("failed", "cancelled", "scheduled", "retryable", "waiting_external"),
        can_cancel=not found.is_terminal,
    )


async def queues(request: Request) -> Response:
    return await render(request, "queues.html", queues=await ui(request).client.queue_stats())


async def cron(request: Request) -> Response:
    client = ui(request).client
    paused_queues = {s.queue for s in await client.queue_stats() if s.paused}
    return await render(
        request,
        "cron.html",
        schedules=await client.list_cron_jobs(),
        paused_queues=paused_queues,
    )


async def runtime(request: Request) -> Response:
    return await render(
        request, "runtime.html", instances=await ui(request).client.runtime_instances()
    )


async def login(request: Request) -> Response:
    state = ui(request)
    target = safe_next(request.query_params.get("next"), "/")
    if request.method == "GET":
        return await render(request, "login.html", next=target, failed=False)
    _form, body = await read_mutation(request)
    target = safe_next(body.get("next"), "/")
    if state.token is None:
        return RedirectResponse(target, status_code=303)
    if not same(body.get("token"), state.token):
        return await render(request, "login.html", status=401, next=target, failed=True)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(state.token),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    await read_mutation(request)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


routes = [
    Route("/", dashboard),
    Route("/jobs", jobs),
    Route("/jobs/{job_id}", job),
    Route("/queues", queues),
    Route("/cron", cron),
    Route("/runtime", runtime),
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
]
