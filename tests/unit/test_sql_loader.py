from __future__ import annotations

import re
from pathlib import Path

import pytest

from awa._sql import MIGRATIONS, Q, QueryError, parse

AWA = Path(__file__).resolve().parents[2] / "awa"


def test_every_query_loads_with_a_cardinality() -> None:
    assert len(Q) > 10
    for query in Q.values():
        assert query.cardinality in ("one", "many", "exec", "copy")
        assert query.text.strip()


def test_every_query_named_in_code_exists() -> None:
    named = set()
    for path in AWA.rglob("*.py"):
        named |= set(re.findall(r'Q\["([a-z_0-9]+)"\]', path.read_text()))
    assert named, "no Q[...] references found"
    assert sorted(named - set(Q)) == []


def test_no_sql_text_in_runtime_modules() -> None:
    pattern = re.compile(r"""^\s*["']?\s*(SELECT|UPDATE|INSERT|DELETE)\s""", re.MULTILINE)
    offenders = [
        str(p.relative_to(AWA))
        for p in AWA.rglob("*.py")
        if "_sql" not in p.parts and pattern.search(p.read_text())
    ]
    assert offenders == []


def test_migrations_are_numbered_without_gaps() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("SELECT 1;", "before the first"),
        ("-- name: x :nope\nSELECT 1;", "cardinality"),
        ("-- name: x :one\n", "empty"),
        ("-- name: Bad-Name :one\nSELECT 1;", "malformed"),
        ("-- name: x :one bogus=1\nSELECT 1;", "option"),
    ],
)
def test_malformed_files_fail_loudly(text: str, match: str) -> None:
    with pytest.raises(QueryError, match=match):
        parse("t.sql", text)


def test_parse_collects_params_and_identifiers() -> None:
    (query,) = parse("t.sql", "-- name: q :exec\n-- doc\nLISTEN {channel}; -- %(x)s\n")
    assert query.identifiers == {"channel"}
