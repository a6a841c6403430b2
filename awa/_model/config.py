"""Client settings that need no I/O: the database URL and redaction."""

from __future__ import annotations

import re
from collections.abc import Mapping

from awa.errors import ConfigError

DATABASE_URL_ENV = ("DATABASE_URL",)

_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^/:@\s]*:)(?P<secret>[^@/\s]*)(?P<tail>@)", re.I
)
_KEYWORD_PASSWORD = re.compile(
    r"(?P<head>\bpassword\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|\S+)", re.I
)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<secret>[^&\s]*)", re.I)


def redact(text: str) -> str:
    """Hide passwords in URLs, conninfo strings and messages quoting them."""
    text = _URL_PASSWORD.sub(r"\g<head>***\g<tail>", text)
    text = _QUERY_PASSWORD.sub(r"\g<head>***", text)
    return _KEYWORD_PASSWORD.sub(r"\g<head>***", text)


def resolve_database_url(value: str | None, environ: Mapping[str, str]) -> str:
    """The given URL, else ``$DATABASE_URL``; a clear error when neither is set."""
    if value is not None:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError("database_url: expected a non-empty string", field="database_url")
        return value
    for name in DATABASE_URL_ENV:
        found = environ.get(name)
        if found:
            return found
    raise ConfigError(
        "no database URL: pass one (AsyncClient('postgresql://...')) or set DATABASE_URL",
        field="database_url",
    )
