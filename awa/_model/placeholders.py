"""Checking ``$1, $2`` placeholders in caller-written SQL before it is sent."""

from __future__ import annotations

import re

from awa.errors import ValidationError

# Things that may contain '$' or '%' without being placeholders: string
# literals (with '' escapes, E'' strings with backslash escapes), quoted
# identifiers, dollar-quoted bodies, and comments.
_SKIP = re.compile(
    r"""
      [Ee]'(?:[^'\\]|\\.|'')*'       # E'...' escape string
    | '(?:[^']|'')*'                 # '...' string
    | "(?:[^"]|"")*"                 # "..." identifier
    | \$(?P<tag>[A-Za-z_][A-Za-z_0-9]*)?\$.*?\$(?P=tag)?\$  # $tag$...$tag$
    | --[^\n]*                       # line comment
    | /\*.*?\*/                      # block comment (not nested)
    """,
    re.VERBOSE | re.DOTALL,
)
_PLACEHOLDER = re.compile(r"\$(\d+)")
_PYFORMAT = re.compile(r"%(?:\(\w+\))?s")


def check_placeholders(sql: str, nargs: int) -> None:
    """Raise ``ValidationError`` unless ``sql`` uses exactly ``$1..$nargs``."""
    if not isinstance(sql, str):
        raise ValidationError(f"sql: expected a string, got {type(sql).__name__}", field="sql")
    if "\x00" in sql:
        raise ValidationError("sql: NUL characters are not allowed", field="sql")
    if not sql.strip():
        raise ValidationError("sql: empty statement", field="sql")
    code = _SKIP.sub(" ", sql)
    if _PYFORMAT.search(code):
        raise ValidationError(
            "sql: use PostgreSQL placeholders $1, $2, ... (not %s or %(name)s)", field="sql"
        )
    used = {int(n) for n in _PLACEHOLDER.findall(code)}
    expected = set(range(1, nargs + 1))
    if used != expected:
        missing = sorted(expected - used)
        extra = sorted(used - expected)
        parts = []
        if extra:
            parts.append(
                f"uses {', '.join(f'${n}' for n in extra)} but only {nargs} argument(s) given"
            )
        if missing:
            parts.append(f"argument(s) {', '.join(f'${n}' for n in missing)} not used in the SQL")
        raise ValidationError("sql: " + "; ".join(parts), field="sql")


# -- translating awa's own named queries for other drivers ------------------

_NAMED = re.compile(r"%\((\w+)\)s(?P<cast>::\w+(?:\(\d+\))?(?:\[\])?)?")


def to_numbered(sql: str) -> tuple[str, tuple[str, ...], dict[str, str]]:
    """``%(name)s`` -> ``$1, $2`` (one number per distinct name, in order of
    first use), for drivers with numbered placeholders (asyncpg).

    Returns the SQL, the names in number order, and the cast written after each
    name's first cast use (``{"unique_states": "bit(8)"}``), so a driver can
    adapt values whose type it can't infer from Python alone.
    """
    names: list[str] = []
    casts: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        name = match[1]
        if name not in names:
            names.append(name)
        if match["cast"] and name not in casts:
            casts[name] = match["cast"][2:]
        return f"${names.index(name) + 1}{match['cast'] or ''}"

    return _NAMED.sub(number, sql), tuple(names), casts


def to_colon(sql: str) -> str:
    """``%(name)s`` -> ``:name`` for SQLAlchemy's ``text()``.

    A cast keeps a space before it (``:name ::jsonb``): ``text()`` would read
    ``:name::jsonb`` as a parameter with a different name.
    """
    return _NAMED.sub(lambda m: f":{m[1]}" + (f" {m['cast']}" if m["cast"] else ""), sql)
