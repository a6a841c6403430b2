"""``awa migrate``: create or upgrade the schema, or show what would change."""

from __future__ import annotations

import argparse
from typing import Any

from awa import Client, migration_sql
from awa.cli.output import emit_json, require_url


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "migrate",
        help="create or upgrade the awa schema",
        description="Apply pending migrations (idempotent; safe to run concurrently).",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sql", action="store_true", help="print the migration SQL, change nothing")
    mode.add_argument("--version", action="store_true", help="print the database's schema version")
    mode.add_argument("--pending", action="store_true", help="list migrations not yet applied")
    parser.add_argument(
        "--from",
        dest="after",
        type=int,
        default=0,
        help="with --sql: start after this version (default 0)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.sql:
        print(migration_sql(after=args.after), end="")
        return 0
    with Client(require_url(args.database_url), max_connections=1) as client:
        if args.version or args.pending:
            status = client.migration_status()
            if args.json:
                emit_json(
                    {
                        "current": status.current,
                        "latest": status.latest,
                        "pending": list(status.pending),
                    }
                )
            elif args.version:
                print(status.current)
            else:
                for version in status.pending:
                    print(version)
            return 0
        applied = client.migrate()
        if args.json:
            emit_json({"applied": applied})
        elif applied:
            print(f"applied migration(s) {', '.join(map(str, applied))}")
        else:
            print("schema up to date")
        return 0
