"""The OpenAPI 3.1 description of ``/api`` (served at ``/api/openapi.json``)."""

from __future__ import annotations

from functools import cache
from typing import Any

import awa

ERROR = {"$ref": "#/components/schemas/Error"}
STATES = [s.value for s in awa.JobState]


def _param(name: str, where: str, schema: dict[str, Any], doc: str, required: bool = False) -> Any:
    return {"name": name, "in": where, "required": required, "schema": schema, "description": doc}


def _answers(ok: str, schema: dict[str, Any], *codes: int) -> dict[str, Any]:
    texts = {
        400: "bad input",
        401: "a token is required",
        403: "CSRF token or origin refused",
        404: "no such job or schedule",
        409: "the job's state does not allow it",
        500: "internal error (details in the server log)",
        503: "read-only, or the database is unavailable",
    }
    out: dict[str, Any] = {"200": {"description": ok, "content": _json(schema)}}
    for code in (*codes, 401, 500):
        out[str(code)] = {"description": texts[code], "content": _json(ERROR)}
    return out


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _get(summary: str, schema: dict[str, Any], *params: Any, codes: tuple[int, ...] = ()) -> Any:
    return {
        "get": {
            "summary": summary,
            "parameters": list(params),
            "responses": _answers("OK", schema, *codes),
        }
    }


def _post(summary: str, schema: dict[str, Any], *params: Any, body: Any = None) -> Any:
    op: dict[str, Any] = {
        "summary": summary,
        "description": "Needs the CSRF token (X-CSRF-Token header equal to the awa_csrf"
        " cookie) unless authenticated with a bearer token.",
        "parameters": [*params, _param("X-CSRF-Token", "header", {"type": "string"}, "CSRF")],
        "responses": _answers("done", schema, 400, 403, 404, 409, 503),
    }
    if body is not None:
        op["requestBody"] = {"required": False, "content": _json(body)}
    return {"post": op}


@cache
def openapi_schema() -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "object"}
    job_id = _param("job_id", "path", {"type": "integer", "minimum": 1}, "job id", True)
    queue = _param("queue", "path", {"type": "string"}, "queue name", True)
    name = _param("name", "path", {"type": "string"}, "schedule name", True)
    job_ref = {"$ref": "#/components/schemas/Job"}
    scope_fields: dict[str, Any] = {"kind": {"type": "string"}, "queue": {"type": "string"}}
    scope = {"type": "object", "properties": scope_fields}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "awa admin API",
            "version": awa.__version__,
            "description": "Jobs, queues, schedules and workers of one awa database.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
                "Job": {
                    "type": "object",
                    "required": ["id", "kind", "queue", "state", "args", "errors"],
                    "properties": {
                        "id": {"type": "integer"},
                        "kind": {"type": "string"},
                        "queue": {"type": "string"},
                        "state": {"type": "string", "enum": STATES},
                        "args": {"type": "object"},
                        "attempt": {"type": "integer"},
                        "max_attempts": {"type": "integer"},
                        "errors": {"type": "array", "items": {"type": "object"}},
                        "progress": {"type": ["object", "null"]},
                    },
                },
            },
        },
        "security": [{}, {"bearer": []}],
        "paths": {
            "/api/openapi.json": _get("this document", obj),
            "/api/capabilities": _get("read-only state, auth, version", obj),
            "/api/stats": _get("job counts by state", obj),
            "/api/stats/timeseries": _get(
                "jobs finished per minute",
                obj,
                _param(
                    "minutes",
                    "query",
                    {"type": "integer", "minimum": 1, "maximum": 1440},
                    "window (default 60)",
                ),
                codes=(400,),
            ),
            "/api/jobs": _get(
                "jobs, newest first, keyset paged",
                obj,
                _param("state", "query", {"type": "string", "enum": STATES}, "state"),
                _param("queue", "query", {"type": "string"}, "queue"),
                _param("kind", "query", {"type": "string"}, "kind"),
                _param("q", "query", {"type": "string"}, "id, or text in kind/queue/tags/args"),
                _param(
                    "limit",
                    "query",
                    {"type": "integer", "minimum": 1, "maximum": 200},
                    "page size (default 50)",
                ),
                _param("cursor", "query", {"type": "string"}, "next_cursor of the last page"),
                codes=(400,),
            ),
            "/api/jobs/retry-failed": _post(
                "retry every failed job (of a kind and/or queue), in batches",
                obj,
                body=scope,
            ),
            "/api/jobs/discard-failed": _post(
                "delete every failed job (of a kind and/or queue), in batches",
                obj,
                body={
                    "type": "object",
                    "required": ["confirm"],
                    "properties": {**scope_fields, "confirm": {"const": "yes"}},
                },
            ),
            "/api/jobs/{job_id}": _get("one job", job_ref, job_id, codes=(400, 404)),
            "/api/jobs/{job_id}/retry": _post("retry a job now", job_ref, job_id),
            "/api/jobs/{job_id}/cancel": _post(
                "cancel a job",
                job_ref,
                job_id,
                body={"type": "object", "properties": {"reason": {"type": "string"}}},
            ),
            "/api/kinds": _get("kinds of unfinished jobs and schedules", obj),
            "/api/queues": _get("queue stats", obj),
            "/api/queues/{queue}/pause": _post(
                "pause a queue",
                obj,
                queue,
                body={"type": "object", "properties": {"paused_by": {"type": "string"}}},
            ),
            "/api/queues/{queue}/resume": _post("resume a queue", obj, queue),
            "/api/queues/{queue}/drain": _post("cancel a queue's waiting jobs", obj, queue),
            "/api/cron": _get("stored schedules", obj),
            "/api/cron/{name}/trigger": _post("enqueue a schedule's job now", job_ref, name),
            "/api/cron/{name}/pause": _post("pause a schedule", obj, name),
            "/api/cron/{name}/resume": _post("resume a schedule", obj, name),
            "/api/runtime": _get("worker processes", obj),
        },
    }
