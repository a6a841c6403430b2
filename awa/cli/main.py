"""``awa``: the command line. Each command group lives in its own module."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from awa import (
    AwaError,
    ConnectionFailed,
    CronNotFound,
    InvalidStateError,
    JobNotFound,
    PoolTimeout,
    UniqueConflict,
    ValidationError,
)
from awa.cli import callbacks, cron, demo, health, job, migrate, queue, roles, serve, worker
from awa.cli.output import (
    EXIT_CONFLICT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    fail,
)

__all__ = ("EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main")

# Exit codes (docs/cli.md): which errors map to which.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ValidationError, EXIT_USAGE),  # ConfigError too
    (JobNotFound, EXIT_NOT_FOUND),
    (CronNotFound, EXIT_NOT_FOUND),
    (InvalidStateError, EXIT_CONFLICT),
    (UniqueConflict, EXIT_CONFLICT),
    (ConnectionFailed, EXIT_UNREACHABLE),
    (PoolTimeout, EXIT_UNREACHABLE),
)


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
    serve.add_parser(commands)
    job.add_parser(commands)
    queue.add_parser(commands)
    cron.add_parser(commands)
    health.add_parser(commands)
    demo.add_parser(commands)
    callbacks.add_parser(commands)
    roles.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or bad usage (2): return, don't exit
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.database_url is None:
        args.database_url = os.environ.get("DATABASE_URL") or None
    try:
        code: int = args.run(args)
    except AwaError as exc:
        fail(str(exc))
        return exit_code(exc)
    except KeyboardInterrupt:
        fail("interrupted")
        return EXIT_INTERRUPTED
    return code


def exit_code(exc: AwaError) -> int:
    for error_type, code in EXIT_CODES:
        if isinstance(exc, error_type):
            return code
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
