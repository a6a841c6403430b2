"""The database schema awa creates: versions and the SQL of its migrations."""

from __future__ import annotations

from awa._db.roles import roles_sql as _roles_sql
from awa._sql import LATEST_VERSION, MIGRATIONS
from awa.errors import ValidationError

__all__ = ("LATEST_SCHEMA_VERSION", "migration_sql", "roles_sql")

LATEST_SCHEMA_VERSION = LATEST_VERSION


def migration_sql(after: int = 0, upto: int | None = None) -> str:
    """The SQL of migrations ``after + 1`` to ``upto`` (default: the latest).

    The text is what ``migrate()`` runs, each file preceded by a comment naming
    it, for review or for applying with your own tooling (then also record
    each version in ``awa.schema_version``).
    """
    last = LATEST_VERSION if upto is None else upto
    for name, value in (("after", after), ("upto", last)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 0 <= value <= LATEST_VERSION
        ):
            raise ValidationError(f"{name}: expected a version in 0..{LATEST_VERSION}", field=name)
    if after > last:
        raise ValidationError("after: must not exceed upto", field="after")
    parts = [
        f"-- awa migration {m.version:04d}: {m.description}\n{m.sql.rstrip()}\n"
        f"INSERT INTO awa.schema_version (version, description)"
        f" VALUES ({m.version}, '{m.description}') ON CONFLICT (version) DO NOTHING;\n"
        for m in MIGRATIONS[after:last]
    ]
    return "\n".join(parts)


def roles_sql(worker: str | None = "awa_worker", reader: str | None = "awa_reader") -> str:
    """The SQL ``grant_roles()`` runs, for review or for your own tooling.

    ``None`` leaves that role out. The roles must exist when it runs.
    """
    return _roles_sql(worker, reader)
