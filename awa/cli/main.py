"""``awa``: the command line. Each command group lives in its own module."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from awa import AwaError, ConfigError, ValidationError
from awa.cli import callbacks, demo, migrate, roles, worker
from awa.cli.output import fail

# Exit codes: 0 done, 1 failed (the error is printed), 2 bad usage.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="awa",
        description="awa: a Postgres-only background job queue.",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL (default: $DATABASE_URL)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    migrate.add_parser(commands)
    worker.add_parser(commands)
    demo.add_parser(commands)
    callbacks.add_parser(commands)
    roles.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.database_url is None:
        args.database_url = os.environ.get("DATABASE_URL") or None
    try:
        code: int = args.run(args)
    except (ConfigError, ValidationError) as exc:
        fail(str(exc))
        return EXIT_USAGE
    except AwaError as exc:
        fail(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        fail("interrupted")
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
