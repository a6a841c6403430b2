"""Printing for the CLI: human tables by default, JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from awa.errors import ConfigError


def fail(message: str) -> None:
    print(f"awa: error: {message}", file=sys.stderr)


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str, sort_keys=True)
    sys.stdout.write("\n")


def emit_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Print rows as aligned columns under a header."""
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def require_url(url: str | None) -> str:
    if not url:
        raise ConfigError("no database: pass --database-url or set DATABASE_URL")
    return url
