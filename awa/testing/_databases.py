"""Throwaway databases for tests: one migrated template, a copy per test."""

from __future__ import annotations

import itertools
import uuid

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from awa._sql import Q
from awa.client import Client


class TestDatabases:
    """Creates databases on a server from a template migrated once.

    ``admin_url`` must let its user create databases. Copying the template
    (``CREATE DATABASE ... TEMPLATE``) takes a fraction of a second, so every
    test can have a database of its own: LISTEN channels, advisory locks and
    the leader's lock are per database, so tests can't see each other.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        tag = uuid.uuid4().hex[:8]
        self.template = f"awa_test_tpl_{tag}"
        self._names = (f"awa_test_{tag}_{n}" for n in itertools.count(1))
        self._run("testing_database_create", name=self.template, template="template0")
        try:
            with Client(self.url(self.template), max_connections=1) as client:
                client.migrate()
        except BaseException:
            self.drop(self.template)
            raise

    def url(self, name: str) -> str:
        """The admin URL with another database name."""
        return make_conninfo(self.admin_url, dbname=name)

    def _run(self, query: str, **identifiers: str) -> None:
        statement = sql.SQL(Q[query].text).format(
            **{key: sql.Identifier(value) for key, value in identifiers.items()}
        )
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(statement)

    def create(self) -> str:
        """A new migrated database; returns its name."""
        name = next(self._names)
        self._run("testing_database_create", name=name, template=self.template)
        return name

    def drop(self, name: str) -> None:
        self._run("testing_database_drop", name=name)

    def close(self) -> None:
        self.drop(self.template)
