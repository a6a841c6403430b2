"""``awa health``: is the database reachable, the schema current, are workers alive?

With ``--endpoint URL`` it also asks a worker's HTTP health endpoint
(``GET /readyz``: 200 with ``{"status": "ok"}`` when ready, 503 otherwise).
Exit 0 when every check passes, 1 when one fails, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import attrs

import awa
from awa.cli.output import EXIT_FAILED, EXIT_OK, add_json_flag, emit_json
from awa.errors import ConfigError


@attrs.frozen
class Check:
    name: str
    ok: bool
    detail: str


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "health",
        help="check the database, the schema and the workers",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument(
        "--endpoint",
        action="append",
        default=[],
        metavar="URL",
        help="a worker's health URL (repeatable); a bare host:port gets /readyz",
    )
    parser.add_argument(
        "--min-live",
        type=int,
        default=0,
        metavar="N",
        help="fail unless at least N worker processes reported recently (default 0)",
    )
    parser.add_argument(
        "--stale-after",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a worker is live when it reported within this many seconds (default 30)",
    )
    parser.add_argument("--connect-timeout", type=float, default=5.0, metavar="SECONDS")
    add_json_flag(parser)
    parser.set_defaults(run=run)


def endpoint_url(text: str) -> str:
    if "://" not in text:
        text = "http://" + text
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"--endpoint {text!r}: expected an http(s) URL", field="endpoint")
    if parts.path in ("", "/"):
        parts = parts._replace(path="/readyz")
    return urllib.parse.urlunsplit(parts)


def check_database(url: str, args: argparse.Namespace) -> list[Check]:
    where = awa.redact_url(url)
    try:
        with awa.Client(url, max_connections=1, connect_timeout=args.connect_timeout) as client:
            status = client.migration_status()
            checks = [Check("database", True, f"reachable ({where})")]
            if status.up_to_date:
                checks.append(Check("schema", True, f"version {status.current} is current"))
            else:
                checks.append(
                    Check(
                        "schema",
                        False,
                        f"version {status.current}, this awa expects {status.latest}"
                        " (run: awa migrate)",
                    )
                )
                return checks
            instances = client.runtime_instances(stale_after=args.stale_after)
    except awa.AwaError as exc:
        return [Check("database", False, f"{where}: {awa.redact_url(str(exc))}")]
    live = [i for i in instances if i.live and not i.shutting_down]
    detail = f"{len(live)} live worker process(es)"
    if len(instances) > len(live):
        detail += f", {len(instances) - len(live)} stale or stopping"
    checks.append(Check("workers", len(live) >= args.min_live, detail))
    return checks


def check_endpoint(url: str, timeout: float) -> Check:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, body = response.status, response.read(65536)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(65536)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check("endpoint", False, f"{url}: unreachable ({reason})")
    try:
        reported = json.loads(body).get("status")
    except (ValueError, AttributeError):
        reported = None
    ok = status == 200 and reported == "ok"
    return Check("endpoint", ok, f"{url}: HTTP {status}, status {reported!r}")


def run(args: argparse.Namespace) -> int:
    if args.min_live < 0:
        raise ConfigError("--min-live: expected 0 or more", field="min_live")
    if not 0 < args.stale_after <= 86_400:
        raise ConfigError("--stale-after: expected seconds in (0, 86400]", field="stale_after")
    endpoints = [endpoint_url(e) for e in args.endpoint]
    if not args.database_url and not endpoints:
        raise ConfigError("nothing to check: pass --database-url (or DATABASE_URL) or --endpoint")
    checks: list[Check] = []
    if args.database_url:
        checks += check_database(args.database_url, args)
    checks += [check_endpoint(url, args.connect_timeout) for url in endpoints]
    healthy = all(c.ok for c in checks)
    if args.json:
        emit_json({"healthy": healthy, "checks": [attrs.asdict(c) for c in checks]})
    else:
        for c in checks:
            print(f"{'ok  ' if c.ok else 'FAIL'}  {c.name:9} {c.detail}")
    return EXIT_OK if healthy else EXIT_FAILED
