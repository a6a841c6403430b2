"""Connections of every driver the bridge supports, on the test's database."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict


def sqlalchemy_url(database_url: str, driver: str) -> str:
    """The same database as a SQLAlchemy URL (``postgresql+<driver>://``)."""
    from sqlalchemy.engine import URL

    parts = conninfo_to_dict(database_url)
    return URL.create(
        f"postgresql+{driver}",
        username=parts.get("user"),
        password=parts.get("password"),
        host=parts.get("host"),
        port=int(parts["port"]) if parts.get("port") else None,
        database=parts.get("dbname"),
    ).render_as_string(hide_password=False)


def asyncpg_url(database_url: str) -> str:
    """The same database as a ``postgresql://`` URL (asyncpg takes no conninfo strings)."""
    return sqlalchemy_url(database_url, "asyncpg").replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
def pg_conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A psycopg connection in its default (transactional) mode."""
    with psycopg.connect(database_url) as conn:
        yield conn


@pytest.fixture
def sa_engine(database_url: str) -> Iterator[Any]:
    from sqlalchemy import create_engine

    engine = create_engine(sqlalchemy_url(database_url, "psycopg"))
    yield engine
    engine.dispose()


@pytest.fixture
def django_connection(database_url: str) -> Iterator[Any]:
    """Django's ``connection``, pointed at this test's database."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.bridge.django_settings")
    import django
    from django.db import connection, connections

    django.setup()
    parts = conninfo_to_dict(database_url)
    wrapper = connections["default"]
    wrapper.close()
    wrapper.settings_dict.update(
        NAME=parts.get("dbname"),
        USER=parts.get("user", ""),
        PASSWORD=parts.get("password", ""),
        HOST=parts.get("host", ""),
        PORT=parts.get("port", ""),
    )
    try:
        yield connection
    finally:
        wrapper.close()


@pytest.fixture(params=["asyncpg", "psycopg"])
async def sa_async_engine(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Any]:
    """SQLAlchemy's asyncio engine on either async driver."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(sqlalchemy_url(database_url, request.param))
    yield engine
    await engine.dispose()
