"""The LISTEN connection survives being killed: it reconnects, LISTENs again
and reports the gap to subscribers."""

from __future__ import annotations

import anyio
import psycopg
import pytest

from awa import ConnectionFailed
from awa._db.listener import Listener, ListenerConfig

pytestmark = pytest.mark.pg


def backend_pids(db: psycopg.Connection, app: str) -> list[int]:
    rows = db.execute(
        "SELECT pid FROM pg_stat_activity"
        " WHERE application_name = %s AND datname = current_database()",
        (app,),
    ).fetchall()
    return [r["pid"] for r in rows]


async def test_listener_delivers_and_survives_a_killed_connection(database_url: str, db) -> None:
    listener = Listener(ListenerConfig(conninfo=database_url, min_backoff=0.01))
    received: list[str] = []
    gaps: list[float] = []
    got = anyio.Event()
    regained = anyio.Event()

    def on_notify(payload: str) -> None:
        received.append(payload)
        got.set()

    def on_gap(seconds: float) -> None:
        gaps.append(seconds)
        regained.set()

    listener.subscribe("awa:test", on_notify, on_gap)
    async with anyio.create_task_group() as tg:
        await tg.start(listener.run)
        await listener.wait_listening("awa:test")
        db.execute("SELECT pg_notify('awa:test', 'one')")
        with anyio.fail_after(5):
            await got.wait()

        (pid,) = backend_pids(db, "awa-listener")
        db.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with anyio.fail_after(10):
            await regained.wait()
        await listener.wait_listening("awa:test")
        assert backend_pids(db, "awa-listener") != [pid]

        got = anyio.Event()
        db.execute("SELECT pg_notify('awa:test', 'two')")
        with anyio.fail_after(5):
            await got.wait()
        tg.cancel_scope.cancel()
    assert received == ["one", "two"]
    assert len(gaps) == 1
    assert gaps[0] >= 0
    assert listener.stats.connects == 2


async def test_subscribing_later_listens_without_restart(database_url: str, db) -> None:
    listener = Listener(ListenerConfig(conninfo=database_url))
    got = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(listener.run)
        subscription = listener.subscribe("late", lambda payload: got.set())
        await listener.wait_listening("late")
        db.execute("NOTIFY late")
        with anyio.fail_after(5):
            await got.wait()
        subscription.close()
        tg.cancel_scope.cancel()


async def test_listener_start_fails_on_a_bad_url() -> None:
    listener = Listener(
        ListenerConfig(conninfo="postgresql://x@127.0.0.1:1/none", connect_timeout=2)
    )
    with pytest.RaisesGroup(ConnectionFailed):
        async with anyio.create_task_group() as tg:
            await tg.start(listener.run)
