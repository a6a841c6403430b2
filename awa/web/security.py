"""Who may use the UI, and which requests may change anything.

* **Token auth** (optional; required off loopback): a request carries
  ``Authorization: Bearer <token>``, or the session cookie the login form sets
  (an HMAC of the token, so the token itself is never stored in the browser).
* **CSRF**: every mutation needs the double-submit token (the ``awa_csrf``
  cookie echoed in a form field ``csrf_token`` or an ``X-CSRF-Token`` header)
  and, when the browser sends one, an ``Origin`` equal to the server's.
  Requests authenticated by the bearer header are exempt: browsers never
  attach it on their own.
* **Host check** (when given ``allowed_hosts``; ``awa serve`` on loopback
  without a token allows only local names): a request naming another host
  answers 421, which defeats DNS rebinding.
* **Read-only**: mutations answer 503.
* Every response gets headers that forbid framing, sniffing and foreign
  scripts; an unexpected exception becomes a generic 500 (logged here, never
  shown).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from awa.web.problems import INTERNAL, Problem

logger = logging.getLogger("awa.web")

CSRF_COOKIE = "awa_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_COOKIE = "awa_session"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
PUBLIC_PATHS = ("/login", "/static/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        b" form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (where a token is optional)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def session_value(token: str) -> str:
    """The session cookie's value for ``token`` (not the token itself)."""
    return hmac.new(token.encode(), b"awa-ui-session-v1", hashlib.sha256).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def problem_response(request: Request, problem: Problem) -> Response:
    if wants_json(request) and not is_form(request):
        return JSONResponse(problem.body(), status_code=problem.status)
    page = (
        "<!doctype html><html><head><meta charset=utf-8><title>awa: error</title>"
        '<link rel="stylesheet" href="/static/awa.css"></head><body><main>'
        f"<h1>{problem.status}</h1><p class=error>{_escape(problem.message)}</p>"
        '<p><a href="/">Back to the dashboard</a></p></main></body></html>'
    )
    return HTMLResponse(page, status_code=problem.status)


def _escape(text: str) -> str:
    from html import escape

    return escape(text)


def is_form(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype in FORM_TYPES


class Guard:
    """ASGI middleware: authentication, the CSRF cookie, security headers and
    the last line against stack traces."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        allowed_hosts: Sequence[str] | None = None,
        signed_prefix: str | None = None,
    ) -> None:
        self.app = app
        self.token = token
        # Signed callbacks authenticate by their signature, not the UI token.
        self.public = (
            PUBLIC_PATHS if signed_prefix is None else (*PUBLIC_PATHS, signed_prefix + "/")
        )
        self.session = session_value(token) if token else None
        self.allowed_hosts = (
            None
            if allowed_hosts is None
            else frozenset(h.lower().strip("[]") for h in allowed_hosts)
        )

    def host_allowed(self, request: Request) -> bool:
        """Against DNS rebinding: a page of another site whose name resolves to
        127.0.0.1 reaches this server with its own name in ``Host``."""
        if self.allowed_hosts is None:
            return True
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name.lower().strip("[]") in self.allowed_hosts

    def authenticated(self, request: Request) -> tuple[bool, bool]:
        """(allowed, by_bearer_header)."""
        if self.token is None:
            return True, False
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and same(value.strip(), self.token):
            return True, True
        return same(request.cookies.get(SESSION_COOKIE), self.session), False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        csrf = request.cookies.get(CSRF_COOKIE)
        new_csrf = None
        if not csrf or len(csrf) != 43:
            csrf = new_csrf = secrets.token_urlsafe(32)
        state = scope.setdefault("state", {})
        state["csrf"] = csrf
        state["auth_required"] = self.token is not None
        started = False

        async def send_wrapped(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers += SECURITY_HEADERS
                if new_csrf is not None:
                    cookie = f"{CSRF_COOKIE}={new_csrf}; Path=/; HttpOnly; SameSite=Strict"
                    if scope.get("scheme") == "https":
                        cookie += "; Secure"
                    headers.append((b"set-cookie", cookie.encode()))
                message["headers"] = headers
            await send(message)

        allowed, by_bearer = self.authenticated(request)
        state["bearer"] = by_bearer
        path = request.url.path
        try:
            if not self.host_allowed(request):
                body = {"error": {"code": "bad_host", "message": "unexpected Host header"}}
                await JSONResponse(body, status_code=421)(scope, receive, send_wrapped)
                return
            if not allowed and not path.startswith(self.public):
                response = self.refuse(request)
                await response(scope, receive, send_wrapped)
                return
            await self.app(scope, receive, send_wrapped)
        except Exception:
            logger.exception("unhandled error answering %s %s", request.method, path)
            if not started:
                await problem_response(request, INTERNAL)(scope, receive, send_wrapped)

    def refuse(self, request: Request) -> Response:
        if wants_json(request) or request.method not in SAFE_METHODS:
            body = {"error": {"code": "unauthorized", "message": "a valid token is required"}}
            return JSONResponse(
                body, status_code=401, headers={"www-authenticate": 'Bearer realm="awa"'}
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def check_origin(request: Request) -> None:
    """Refuse a mutation a browser sent from another site."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise Problem(403, "forbidden", "cross-site request refused")
    origin = request.headers.get("origin")
    if origin is None or (origin == "null" and request.state.bearer):
        return
    parts = urlsplit(origin)
    if parts.netloc != request.headers.get("host", ""):
        raise Problem(403, "forbidden", "cross-origin request refused")


async def read_mutation(request: Request) -> tuple[FormData | None, dict[str, Any]]:
    """Check a mutation (origin, CSRF) and read its body: the form, or the JSON object."""
    check_origin(request)
    form: FormData | None = None
    body: dict[str, Any] = {}
    if is_form(request):
        form = await request.form()
    elif request.headers.get("content-type", "").startswith("application/json"):
        raw = await request.body()
        if raw.strip():
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise Problem(400, "bad_request", "the body is not valid JSON") from None
            if not isinstance(parsed, dict):
                raise Problem(400, "bad_request", "the body must be a JSON object")
            body = parsed
    if not request.state.bearer:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and form is not None:
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
        if not same(sent, request.cookies.get(CSRF_COOKIE)):
            raise Problem(403, "csrf", "missing or wrong CSRF token: reload the page")
    if form is not None:
        body = {k: v for k, v in form.items() if isinstance(v, str) and k != CSRF_FIELD}
    return form, body


def safe_next(value: object, default: str) -> str:
    """A same-site path to redirect to after a form (never another host)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(c) < 32 for c in value):
        return default
    return value
