"""A paused leader (SIGSTOP) keeps its socket open; the server must end its
lock session so another worker takes over maintenance (and rescues)."""

from __future__ import annotations

import signal

import pytest

from tests.chaos.harness import FAST, Db, Worker, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.pg, pytest.mark.slow]

LEADER_LOCK = 4708303813012965710  # "AWA_MAIN", see awa/_sql/maintenance.sql


def lock_holder(db: Db) -> int | None:
    rows = db.query(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND ((classid::bigint << 32) | objid::bigint) = %s",
        (LEADER_LOCK,),
    )
    return int(rows[0]["pid"]) if rows else None


def test_paused_leader_loses_the_lock_and_another_worker_leads(chaos_url: str) -> None:
    db = Db(chaos_url)
    first = Worker(chaos_url, "--queue", "chaos:2", *FAST, env={})
    second = None
    try:
        first.ready()
        wait_until("the first worker leads", lambda: lock_holder(db) is not None, timeout=30)
        paused_session = lock_holder(db)
        second = Worker(chaos_url, "--queue", "chaos:2", *FAST, env={})
        second.ready()
        first.send_signal(signal.SIGSTOP)
        wait_until(
            "another session holds the lock",
            lambda: lock_holder(db) not in (None, paused_session),
            timeout=60,
        )
        first.send_signal(signal.SIGCONT)
        assert first.stop() == 0, "".join(first.lines[-30:])
        assert second.stop() == 0, "".join(second.lines[-30:])
    finally:
        first.close()
        if second is not None:
            second.close()
        db.close()
