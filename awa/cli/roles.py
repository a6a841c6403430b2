"""``awa roles``: grant least privileges to a worker role and a read-only role."""

from __future__ import annotations

import argparse
from typing import Any

from awa import Client, roles_sql
from awa.cli.output import require_url


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "roles",
        help="grant least privileges to worker and read-only roles",
        description="Give existing roles what awa workers (--worker) and read-only users"
        " such as the web UI or monitoring (--reader) need, and nothing more. Run as the"
        " schema's owner after every migration (idempotent). See docs/security.md.",
    )
    parser.add_argument("--worker", metavar="ROLE", help="the role workers connect as")
    parser.add_argument("--reader", metavar="ROLE", help="a read-only role")
    parser.add_argument("--sql", action="store_true", help="print the SQL, change nothing")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.sql:
        print(roles_sql(args.worker, args.reader), end="")
        return 0
    with Client(require_url(args.database_url), max_connections=1) as client:
        client.grant_roles(worker=args.worker, reader=args.reader)
    granted = [
        f"{kind} {name!r}"
        for kind, name in (("worker", args.worker), ("reader", args.reader))
        if name
    ]
    print(f"granted: {', '.join(granted)}")
    return 0
