"""The HTTP callback receiver: ``POST {prefix}/{callback_id}/{action}``.

Actions: ``complete`` (body ``{"payload": ...}``, the callback's CEL rules
apply, as in ``resolve_callback(..., default_action="complete")``),
``fail`` (``{"error": "..."}``), ``heartbeat`` (``{"timeout_seconds": n}``)
and ``resume`` (``{"payload": ...}``). Requests must be signed (see
``awa.callbacks``) unless the receiver was built with ``allow_unsigned``.

Answers: 200 ``{"job_id", "state", "outcome"}``; 400 malformed body or id;
401 missing, stale or wrong signature; 404 unknown action, or no job waits on
that callback; 413 body too large; 503 the database is unavailable. Errors
are ``{"error": "..."}`` and never carry a stack trace.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import awa
from awa.callbacks import (
    ACTIONS,
    DEFAULT_PATH_PREFIX,
    DEFAULT_WINDOW,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)

logger = logging.getLogger("awa.web")

MAX_BODY_BYTES = 1024 * 1024


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class CallbackReceiver:
    """Turns signed HTTP requests into callback resolutions on ``client``."""

    def __init__(
        self,
        client: awa.AsyncClient,
        *,
        secret: bytes | str | None,
        allow_unsigned: bool = False,
        prefix: str = DEFAULT_PATH_PREFIX,
        window: int = DEFAULT_WINDOW,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        if secret is None and not allow_unsigned:
            raise awa.ConfigError(
                "the callback receiver needs a secret (or allow_unsigned=True)", field="secret"
            )
        self.client = client
        self.secret = secret
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.window = window
        self.max_body = max_body

    def routes(self) -> list[Route]:
        return [
            Route(
                self.prefix + "/{callback_id}/{action}",
                self.handle,
                methods=["POST"],
                name="callback",
            )
        ]

    async def _body(self, request: Request) -> bytes | JSONResponse:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return error(413, f"body larger than {self.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                return error(413, f"body larger than {self.max_body} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def handle(self, request: Request) -> JSONResponse:
        callback_id = request.path_params["callback_id"]
        action = request.path_params["action"]
        if action not in ACTIONS:
            return error(404, f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        if self.secret is not None and not verify(
            self.secret,
            callback_id,
            request.headers.get(TIMESTAMP_HEADER),
            body,
            request.headers.get(SIGNATURE_HEADER),
            window=self.window,
        ):
            return error(401, "missing, expired or invalid signature")
        try:
            fields: Any = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return error(400, "the body is not JSON")
        if not isinstance(fields, dict):
            return error(400, "the body must be a JSON object")
        try:
            return await self._apply(callback_id, action, fields)
        except awa.CallbackNotFound as exc:
            return error(404, str(exc))
        except awa.ValidationError as exc:
            return error(400, str(exc))
        except awa.AwaError as exc:
            logger.warning("callback %s/%s failed: %s", callback_id, action, exc)
            return error(503, "the database is not available")

    async def _apply(self, callback_id: str, action: str, fields: dict[str, Any]) -> JSONResponse:
        outcome = action
        if action == "complete":
            result = await self.client.resolve_callback(
                callback_id, fields.get("payload"), default_action="complete"
            )
            outcome = result.outcome
            job = result.job
        elif action == "fail":
            message = fields.get("error")
            if not isinstance(message, str) or not message:
                return error(400, 'fail needs {"error": "<message>"}')
            job = await self.client.fail_external(callback_id, message)
        elif action == "heartbeat":
            timeout = fields.get("timeout_seconds", 3600.0)
            job = await self.client.heartbeat_callback(callback_id, timeout)
        else:
            job = await self.client.resume_external(callback_id, fields.get("payload"))
        return JSONResponse(
            {
                "job_id": None if job is None else job.id,
                "state": None if job is None else job.state.value,
                "outcome": outcome,
            }
        )


def callback_app(client: awa.AsyncClient, **options: Any) -> Starlette:
    """A standalone ASGI app with only the callback routes (``awa callbacks serve``)."""
    receiver = CallbackReceiver(client, **options)
    return Starlette(routes=receiver.routes())
