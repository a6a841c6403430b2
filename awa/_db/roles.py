"""Least-privilege roles: the grant statements of ``awa/_sql/roles.sql``, composed."""

from __future__ import annotations

from psycopg import sql

from awa._model.insert import check_name
from awa._sql import Q
from awa.errors import ValidationError

_MAX_IDENTIFIER_BYTES = 63


def check_role(value: object, field: str) -> str:
    name = check_name(value, field)
    if len(name.encode()) > _MAX_IDENTIFIER_BYTES:
        raise ValidationError(f"{field}: a role name has at most 63 bytes", field=field)
    return name


def role_statements(worker: str | None, reader: str | None) -> list[sql.Composed]:
    """The statements granting ``worker`` and ``reader`` their privileges."""
    if worker is None and reader is None:
        raise ValidationError("give a worker role, a reader role or both", field="worker")
    statements = [sql.SQL(Q["roles_secure_partition_functions"].text).format()]
    if worker is not None:
        statements.append(
            sql.SQL(Q["roles_grant_worker"].text).format(
                worker=sql.Identifier(check_role(worker, "worker"))
            )
        )
    if reader is not None:
        statements.append(
            sql.SQL(Q["roles_grant_reader"].text).format(
                reader=sql.Identifier(check_role(reader, "reader"))
            )
        )
    return statements


def roles_sql(worker: str | None, reader: str | None) -> str:
    """The grants as a script, for review or for your own tooling."""
    return "\n\n".join(s.as_string(None) + ";" for s in role_statements(worker, reader)) + "\n"
