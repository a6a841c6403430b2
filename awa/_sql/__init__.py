"""SQL as data: named queries loaded from the ``*.sql`` files beside this module.

Each query block starts with a header line::

    -- name: job_claim_many :many
    -- Comment lines that follow describe it.

The cardinality is ``:one`` (one row or none), ``:many`` (rows), ``:exec``
(row count) or ``:copy`` (a COPY ... FROM STDIN). ``prepare=false`` after the
cardinality keeps the driver from preparing it (for queries whose best plan
depends on the values). Placeholders are psycopg's ``%(name)s``; ``{name}``
marks an identifier composed in by the driver (channel names).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Literal, LiteralString

import attrs

Cardinality = Literal["one", "many", "exec", "copy"]
_CARDINALITIES = ("one", "many", "exec", "copy")
_HEADER = re.compile(
    r"^-- name: (?P<name>[a-z][a-z0-9_]*) :(?P<card>\w+)(?P<opts>(?: \w+=\w+)*)\s*$"
)
_PARAM = re.compile(r"%\((\w+)\)s")
_IDENT = re.compile(r"(?<!\{)\{(\w+)\}(?!\})")


@attrs.frozen
class Query:
    """One named statement."""

    name: str
    text: LiteralString  # read from our own files: trusted SQL
    cardinality: Cardinality
    params: frozenset[str]
    identifiers: frozenset[str]
    prepare: bool = True
    source: str = ""


class QueryError(Exception):
    """A ``.sql`` file is malformed (raised at import time)."""


class Queries(Mapping[str, Query]):
    def __init__(self, queries: dict[str, Query]) -> None:
        self._queries = queries

    def __getitem__(self, name: str) -> Query:
        try:
            return self._queries[name]
        except KeyError:
            raise KeyError(f"no SQL query named {name!r} in awa/_sql/*.sql") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)


def parse(source: str, text: str) -> list[Query]:
    """Split one file's text into queries."""
    found: list[Query] = []
    header: re.Match[str] | None = None
    body: list[str] = []

    def flush() -> None:
        if header is None:
            if any(line.strip() and not line.startswith("--") for line in body):
                raise QueryError(f"{source}: SQL before the first '-- name:' header")
            return
        statement = "\n".join(
            line for line in body if line.strip() and not line.lstrip().startswith("--")
        ).strip()
        statement = statement.removesuffix(";").strip()
        name, card = header["name"], header["card"]
        if card not in _CARDINALITIES:
            raise QueryError(f"{source}: query {name}: unknown cardinality :{card}")
        if not statement:
            raise QueryError(f"{source}: query {name} is empty")
        opts = dict(opt.split("=") for opt in header["opts"].split())
        unknown = set(opts) - {"prepare"}
        if unknown:
            raise QueryError(f"{source}: query {name}: unknown option(s) {sorted(unknown)}")
        found.append(
            Query(
                name=name,
                text=statement,
                cardinality=card,  # type: ignore[arg-type]
                params=frozenset(_PARAM.findall(statement)),
                identifiers=frozenset(_IDENT.findall(_PARAM.sub("", statement))),
                prepare=opts.get("prepare", "true") == "true",
                source=source,
            )
        )

    for line in text.splitlines():
        if line.startswith("-- name:"):
            flush()
            header = _HEADER.match(line)
            if header is None:
                raise QueryError(f"{source}: malformed header {line!r}")
            body = []
        else:
            body.append(line)
    flush()
    return found


def load() -> Queries:
    queries: dict[str, Query] = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        for query in parse(entry.name, entry.read_text(encoding="utf-8")):
            if query.name in queries:
                raise QueryError(
                    f"{entry.name}: query {query.name} already defined in"
                    f" {queries[query.name].source}"
                )
            queries[query.name] = query
    return Queries(queries)


Q = load()


@attrs.frozen
class Migration:
    """One numbered schema migration: ``migrations/NNNN_description.sql``."""

    version: int
    description: str
    sql: str


_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def load_migrations() -> tuple[Migration, ...]:
    folder = resources.files(__name__).joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match is None:
            if entry.name.endswith(".sql"):
                raise QueryError(f"migration file {entry.name} is not named NNNN_description.sql")
            continue
        found.append(
            Migration(
                version=int(match[1]),
                description=match[2].replace("_", " "),
                sql=entry.read_text(encoding="utf-8"),
            )
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise QueryError(f"migrations must be numbered 1..N without gaps, found {versions}")
    return tuple(found)


MIGRATIONS = load_migrations()
LATEST_VERSION = MIGRATIONS[-1].version
