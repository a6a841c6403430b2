"""Printing for the CLI: human tables by default, JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import awa
from awa.errors import ConfigError
from awa.web.encode import jsonable

# Exit codes (docs/cli.md lists them).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_UNREACHABLE = 5
EXIT_INTERRUPTED = 130


def fail(message: str) -> None:
    print(f"awa: error: {awa.redact_url(message)}", file=sys.stderr)


def note(message: str) -> None:
    """A remark for the operator on stderr (stdout stays for results)."""
    print(f"awa: {awa.redact_url(message)}", file=sys.stderr, flush=True)


def emit_json(value: Any) -> None:
    json.dump(jsonable(value), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value)) or "-"
    return str(value)


def emit_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Print rows as aligned columns under a header."""
    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def require_url(url: str | None) -> str:
    if not url:
        raise ConfigError("no database: pass --database-url or set DATABASE_URL")
    return url


def open_client(url: str | None) -> awa.Client:
    """A small sync client for one command."""
    return awa.Client(require_url(url), max_connections=1, connect_timeout=10)


def progress(verb: str, *, quiet: bool = False) -> Callable[[int], None]:
    """An ``on_progress`` callback printing running totals to stderr."""

    def report(done: int) -> None:
        if not quiet:
            print(f"awa: {verb} {done} so far", file=sys.stderr, flush=True)

    return report


def add_json_flag(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
