"""Placeholder translation and row/error normalisation used by awa.bridge."""

from __future__ import annotations

import uuid

from awa._model.placeholders import to_colon, to_numbered
from awa.bridge._shared import copy_target, normalize_row, translate_error
from awa.errors import SchemaNotMigrated, UniqueConflict


def test_numbered_placeholders_reuse_a_number_per_name() -> None:
    sql, names, casts = to_numbered(
        "SELECT %(a)s::bit(8), %(b)s, %(a)s, %(c)s::text[] WHERE x = %(b)s::bigint"
    )
    assert sql == "SELECT $1::bit(8), $2, $1, $3::text[] WHERE x = $2::bigint"
    assert names == ("a", "b", "c")
    assert casts == {"a": "bit(8)", "b": "bigint", "c": "text[]"}


def test_colon_placeholders_keep_casts_apart() -> None:
    assert to_colon("SELECT %(a)s::jsonb, %(b)s FROM t") == "SELECT :a ::jsonb, :b FROM t"


def test_copy_target() -> None:
    assert copy_target("COPY awa.jobs_hot (id, kind,\n  queue)\nFROM STDIN") == (
        "awa",
        "jobs_hot",
        ["id", "kind", "queue"],
    )


class _BitString:
    def as_string(self) -> str:
        return "1111 0000"


def test_rows_from_any_driver_get_awas_types() -> None:
    callback = uuid.uuid4()
    row = normalize_row(
        {
            "args": '{"a": 1}',
            "metadata": {"m": 2},
            "errors": "[]",
            "progress": None,
            "unique_states": _BitString(),
            "callback_id": str(callback),
            "unique_key": memoryview(b"k" * 16),
        }
    )
    assert row == {
        "args": {"a": 1},
        "metadata": {"m": 2},
        "errors": [],
        "progress": None,
        "unique_states": "11110000",
        "callback_id": callback,
        "unique_key": b"k" * 16,
    }


class _AsyncpgLike(Exception):
    sqlstate = "23505"
    constraint_name = "job_unique_claims_pkey"
    detail = "existing_job_id=42"


class _Wrapper(Exception):
    """A SQLAlchemy-style wrapper: SQLSTATE only, the driver error in ``orig``."""

    pgcode = "23505"

    def __init__(self, orig: Exception) -> None:
        super().__init__("wrapped")
        self.orig = orig


def test_errors_are_found_through_wrappers() -> None:
    found = translate_error(_Wrapper(_AsyncpgLike("duplicate")))
    assert isinstance(found, UniqueConflict)
    assert found.existing_job_id == 42

    class Missing(Exception):
        sqlstate = "42P01"

    assert isinstance(
        translate_error(Missing('relation "awa.jobs_hot" does not exist')), SchemaNotMigrated
    )
    assert translate_error(ValueError("not a database error")) is None

    class OtherUnique(Exception):
        sqlstate = "23505"
        constraint_name = "orders_pkey"

    assert translate_error(OtherUnique("duplicate order")) is None
