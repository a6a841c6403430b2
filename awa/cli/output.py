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


def answer(args: Any, value: Any, text: str) -> int:
    """``value`` as JSON with ``--json``, else ``text``; the command succeeded."""
    if args.json:
        emit_json(value)
    else:
        print(text)
    return EXIT_OK


def answer_table(args: Any, items: Sequence[Any], columns: Sequence[str]) -> int:
    """``items`` as JSON with ``--json``, else a table of their ``columns``."""
    if args.json:
        emit_json(items)
    else:
        emit_table([{c: getattr(item, c) for c in columns} for item in items], columns)
    return EXIT_OK


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


def confirm(question: str, *, assume_yes: bool) -> bool:
    """Ask on a terminal before a destructive change; scripts (no TTY) and
    ``--yes`` go ahead."""
    if assume_yes or not sys.stdin.isatty():
        return True
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)  # stdout: results only
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")
