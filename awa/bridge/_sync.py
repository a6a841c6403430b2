"""Sync drivers: psycopg ``Connection``, SQLAlchemy ``Connection``/``Session``, Django.

Each driver runs awa's named queries on the caller's connection, inside
whatever transaction the caller has open; ``BridgeExecutor`` plugs a driver
into awa's own executor so inserts take exactly the client's code path.
"""

from __future__ import annotations

import contextlib
import sys
import zoneinfo
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import cache
from typing import Any, Protocol

import psycopg
from psycopg.rows import DictRow, dict_row

from awa._db.executor import Executor, Params
from awa._model.placeholders import to_colon
from awa._sql import Query
from awa.bridge._shared import normalize_row, translate_error, unsupported
from awa.errors import ValidationError


class SyncDriver(Protocol):
    def run(self, query: Query, params: Params) -> tuple[int, list[dict[str, Any]]]:
        """Run one statement; return (row count, rows as dicts)."""
        ...

    def copy(self, query: Query, rows: Sequence[Sequence[Any]]) -> None: ...

    def atomic(self) -> contextlib.AbstractContextManager[object]:
        """Make several statements atomic without ending the caller's transaction."""
        ...


class PsycopgDriver:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def run(self, query: Query, params: Params) -> tuple[int, list[dict[str, Any]]]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query.text, params)
            rows = cur.fetchall() if cur.description is not None else []
            return cur.rowcount, rows

    def copy(self, query: Query, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur, cur.copy(query.text) as copy:
            for row in rows:
                copy.write_row(row)

    def atomic(self) -> contextlib.AbstractContextManager[object]:
        # In autocommit mode each statement would commit alone; otherwise the
        # caller's (possibly implicit) transaction already holds them together.
        return self.conn.transaction() if self.conn.autocommit else contextlib.nullcontext()


@cache
def _sqlalchemy_text(text: str) -> Any:
    from sqlalchemy import text as sa_text

    return sa_text(to_colon(text))


class SqlAlchemyDriver:
    """A SQLAlchemy ``Connection``; statements go through ``text()``."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def run(self, query: Query, params: Params) -> tuple[int, list[dict[str, Any]]]:
        result = self.conn.execute(_sqlalchemy_text(query.text), dict(params or {}))
        rows = [dict(r) for r in result.mappings()] if result.returns_rows else []
        return result.rowcount, rows

    def copy(self, query: Query, rows: Sequence[Sequence[Any]]) -> None:
        raw = self.conn.connection.driver_connection
        if not isinstance(raw, psycopg.Connection):
            raise ValidationError(
                "insert_many_sync on SQLAlchemy needs the psycopg driver"
                f" (postgresql+psycopg://); this engine uses {self.conn.dialect.driver}",
                field="conn",
            )
        PsycopgDriver(raw).copy(query, rows)

    def atomic(self) -> contextlib.AbstractContextManager[object]:
        return contextlib.nullcontext()  # a SQLAlchemy connection is always in a transaction


class DjangoDriver:
    """Django's ``connection`` (or ``connections[alias]``) on PostgreSQL."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def run(self, query: Query, params: Params) -> tuple[int, list[dict[str, Any]]]:
        with self.conn.cursor() as cur:
            cur.execute(query.text, dict(params) if params else None)
            if cur.description is None:
                return cur.rowcount, []
            names = [column.name for column in cur.description]
            rows = [self._aware(dict(zip(names, values, strict=True))) for values in cur.fetchall()]
            return cur.rowcount, rows

    def _aware(self, row: dict[str, Any]) -> dict[str, Any]:
        # With USE_TZ = False Django reads timestamptz as naive local times.
        for name, value in row.items():
            if isinstance(value, datetime) and value.tzinfo is None:
                row[name] = value.replace(tzinfo=zoneinfo.ZoneInfo(self.conn.timezone_name))
        return row

    def copy(self, query: Query, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            if not isinstance(getattr(cur, "cursor", None), psycopg.Cursor):
                raise ValidationError(
                    "insert_many_sync on Django needs the psycopg (3) backend", field="conn"
                )
            with cur.cursor.copy(query.text) as copy:
                for row in rows:
                    copy.write_row(row)

    def atomic(self) -> contextlib.AbstractContextManager[object]:
        if self.conn.in_atomic_block:
            return contextlib.nullcontext()
        from django.db import transaction

        atomic: contextlib.AbstractContextManager[object] = transaction.atomic(
            using=self.conn.alias
        )
        return atomic


def sync_driver(conn: object) -> SyncDriver:
    """The driver for the caller's connection, or a ``ValidationError``."""
    if isinstance(conn, psycopg.Connection):
        return PsycopgDriver(conn)
    orm = sys.modules.get("sqlalchemy.orm")
    if orm is not None and isinstance(conn, orm.Session):
        return SqlAlchemyDriver(conn.connection())
    engine = sys.modules.get("sqlalchemy.engine")
    if engine is not None and isinstance(conn, engine.Connection):
        return SqlAlchemyDriver(conn)
    vendor = getattr(conn, "vendor", None)
    if isinstance(vendor, str) and hasattr(conn, "alias") and hasattr(conn, "in_atomic_block"):
        if vendor != "postgresql":
            raise ValidationError(
                f"conn: a Django connection to {vendor}; awa needs PostgreSQL", field="conn"
            )
        return DjangoDriver(conn)
    raise unsupported(conn, want_async=False)


class BridgeExecutor(Executor):
    """awa's executor, running on a caller's connection through a driver.

    The insert methods (``job_insert``, ``job_insert_many``) are the client's;
    only the four primitives underneath them are replaced.
    """

    def __init__(self, driver: SyncDriver) -> None:  # no pooled connection here
        self.driver = driver

    def copy_text_array(self, items: tuple[str, ...]) -> Any:
        return list(items)  # a driver's COPY may be binary: a list, not a literal

    @contextlib.contextmanager
    def _translating(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            known = translate_error(exc)
            if known is None:
                raise
            raise known from exc

    def one(self, query: Query, params: Params = None) -> DictRow | None:
        rows = self.many(query, params)
        return rows[0] if rows else None

    def many(self, query: Query, params: Params = None) -> list[DictRow]:
        with self._translating():
            _, rows = self.driver.run(query, params)
        return [normalize_row(r) for r in rows]

    def exec(self, query: Query, params: Params = None) -> int:
        with self._translating():
            count, _ = self.driver.run(query, params)
        return count

    def copy(self, query: Query, rows: Sequence[Sequence[Any]]) -> None:
        with self._translating():
            self.driver.copy(query, rows)
