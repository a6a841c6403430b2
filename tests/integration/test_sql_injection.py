"""SQL injection attempts through every string the public API sends to SQL.

Each payload goes in as a kind, queue, tag, metadata key, args key and
value, concurrency key, unique-key part, cancel reason, pause label, cron
name, time zone, list filter and cursor, callback id and error. Every call
either refuses it with a typed ``awa`` error or stores it as plain data (read
back unchanged); afterwards the canary table is intact, no object was
created, and nothing was half-written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

import awa

pytestmark = [pytest.mark.pg]

PAYLOADS = [
    "'; DROP TABLE canary; --",
    "x'); DROP TABLE canary; --",
    '"; DROP TABLE canary; --',
    'a" ; DROP TABLE canary; --',
    "$$; DROP TABLE canary; $$",
    "$tag$; DROP TABLE canary; $tag$",
    "\\'; DROP TABLE canary; --",
    "E'\\x27; DROP TABLE canary; --",
    "1; UPDATE awa.jobs_hot SET priority = 1",
    "' OR '1'='1",
    "' UNION SELECT usename, passwd FROM pg_shadow --",
    "%s",
    "%(id)s",
    "%%(queue)s; DROP TABLE canary",
    "$1",
    "{channel}",
    "{}; DROP TABLE canary",
    "/* */ DROP TABLE canary /* */",
    "canary\u02bc; DROP TABLE canary; --",  # a modifier letter apostrophe
    "\uff07; DROP TABLE canary; --",  # a fullwidth apostrophe
    "x" * 199 + "'",
    "x\x00'; DROP TABLE canary; --",  # NUL: refused
    "../../../../etc/passwd",
    "awa:cancel",
    "*",
    "_",
]


@dataclass
class Inert:
    text: str


def snapshot(db: psycopg.Connection) -> dict[str, Any]:
    return {
        "canary": db.execute("SELECT value FROM canary").fetchall(),
        "relations": db.execute(
            "SELECT count(*) AS n FROM pg_class AS c JOIN pg_namespace AS n"
            " ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg_toast%%'"
        ).fetchone()["n"],
        "roles": db.execute("SELECT count(*) AS n FROM pg_roles").fetchone()["n"],
        "functions": db.execute(
            "SELECT count(*) AS n FROM pg_proc AS p JOIN pg_namespace AS n"
            " ON n.oid = p.pronamespace WHERE n.nspname IN ('public', 'awa')"
        ).fetchone()["n"],
        "priorities": db.execute(
            "SELECT count(*) AS n FROM awa.jobs WHERE priority = 1"
        ).fetchone()["n"],
    }


def refused_or(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run an API call; a typed awa error (and nothing else) is a refusal."""
    try:
        return call(*args, **kwargs)
    except awa.AwaError as exc:
        error = exc
    assert not isinstance(error, awa.DatabaseError), f"reached SQL and failed there: {error!r}"
    return error


@pytest.fixture
def canary(db: psycopg.Connection) -> psycopg.Connection:
    db.execute("CREATE TABLE canary (value text)")
    db.execute("INSERT INTO canary VALUES ('alive')")
    return db


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_payload_is_refused_or_stored_inertly(
    database_url: str, canary: psycopg.Connection, payload: str
) -> None:
    before = snapshot(canary)
    args = {payload: payload, "nested": [payload, {payload: payload}]}
    with awa.Client(database_url) as client:
        job = refused_or(
            client.insert,
            args,
            kind=payload,
            queue=payload,
            tags=[payload, "plain"],
            metadata={payload: payload},
            unique_opts={"by_args": True, "by_queue": True},
            concurrency_key=payload,
        )
        if isinstance(job, awa.Job):
            stored = client.get_job(job.id)
            assert stored.args == args
            assert (stored.kind, stored.queue, stored.concurrency_key) == (
                payload,
                payload,
                payload,
            )
            assert stored.tags == (payload, "plain")
            assert stored.metadata[payload] == payload
            page = client.list_jobs(kind=payload, queue=payload)
            assert [j.id for j in page.jobs] == [job.id]
            assert isinstance(
                refused_or(
                    client.insert,
                    args,
                    kind=payload,
                    queue=payload,
                    unique_opts={"by_args": True, "by_queue": True},
                ),
                awa.UniqueConflict,
            )
            cancelled = client.cancel(job.id, reason=payload)
            assert cancelled.state == awa.JobState.CANCELLED
            assert client.get_job(job.id).errors[-1]["message"] == payload
        else:
            assert isinstance(job, awa.ValidationError)
            assert client.list_jobs(limit=10).jobs == ()

        # list filters, cursors, states, ids
        for kwargs in (
            {"kind": payload},
            {"queue": payload},
            {"state": payload},
            {"cursor": payload},
        ):
            page = refused_or(client.list_jobs, **kwargs)
            assert isinstance(page, awa.ValidationError | awa.JobPage)
        assert isinstance(refused_or(client.get_job, payload), awa.ValidationError)
        refused_or(client.cancel_by_unique_key, payload, queue=payload, args={payload: payload})

        # queue administration
        refused_or(client.pause_queue, payload, paused_by=payload)
        refused_or(client.resume_queue, payload)
        refused_or(client.set_queue_limit, payload, 10)
        refused_or(client.queue_depth, payload)
        refused_or(client.drain_queue, payload)
        refused_or(client.set_queue_limit, payload, None)

        # cron names, zones and queues
        schedule = refused_or(
            client.periodic, payload, "*/5 * * * *", Inert, Inert(payload), queue=payload
        )
        refused_or(
            client.periodic,
            f"zone-{len(payload)}",
            "0 * * * *",
            Inert,
            Inert("z"),
            timezone=payload,
        )
        if not isinstance(schedule, awa.AwaError):
            assert client.sync_periodic() >= 1
            info = client.get_cron_job(payload)
            assert (info.name, info.queue) == (payload, payload)
            refused_or(client.pause_cron, payload, paused_by=payload)
            refused_or(client.resume_cron, payload)
            fired = client.trigger_cron(payload)
            assert client.get_job(fired.id).args == {"text": payload}
            assert client.remove_cron(payload)
        for call in (client.get_cron_job, client.pause_cron, client.trigger_cron):
            refused_or(call, payload)
        refused_or(client.remove_cron, payload)

        # external callbacks: ids are UUIDs, errors are data
        refused_or(client.complete_external, payload, {payload: payload})
        refused_or(client.fail_external, uuid.uuid4(), payload)
        refused_or(client.retry_external, payload)
    after = snapshot(canary)
    assert after["canary"] == before["canary"] == [{"value": "alive"}]
    assert after["relations"] == before["relations"]
    assert after["roles"] == before["roles"]
    assert after["functions"] == before["functions"]
    assert after["priorities"] == before["priorities"]
