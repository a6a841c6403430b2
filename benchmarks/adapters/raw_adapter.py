"""The raw-SQL floor: what one psycopg connection does with no library at all.

Single INSERTs in autocommit, COPY, and a drain that claims 100 rows with
SKIP LOCKED and marks them done in the next statement (no handler). Only the
scenarios that mean something without a worker are supported.
"""

from __future__ import annotations

import time
from typing import Any

import _common
import anyio
import psycopg

SCHEMA = """
CREATE TABLE raw_jobs (id bigserial PRIMARY KEY, kind text NOT NULL, args jsonb NOT NULL,
                       state text NOT NULL DEFAULT 'available');
CREATE INDEX raw_jobs_available ON raw_jobs (id) WHERE state = 'available';
"""
CLAIM = """UPDATE raw_jobs SET state = 'running' WHERE id IN (
    SELECT id FROM raw_jobs WHERE state = 'available' ORDER BY id LIMIT 100
    FOR UPDATE SKIP LOCKED) RETURNING id"""


def _run(url: str, scenario: str, size: int) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
        if scenario == "single_insert":
            started = time.perf_counter()
            for n in range(size):
                conn.execute(
                    "INSERT INTO raw_jobs (kind, args) VALUES ('noop', %s)", (f'{{"n": {n}}}',)
                )
            elapsed = time.perf_counter() - started
        elif scenario == "batch_insert":
            started = time.perf_counter()
            with conn.cursor().copy("COPY raw_jobs (kind, args) FROM STDIN") as copy:
                for n in range(size):
                    copy.write_row(("noop", f'{{"n": {n}}}'))
            elapsed = time.perf_counter() - started
        elif scenario == "drain":
            with conn.cursor().copy("COPY raw_jobs (kind, args) FROM STDIN") as copy:
                for n in range(size):
                    copy.write_row(("noop", f'{{"n": {n}}}'))
            started = time.perf_counter()
            while True:
                ids = [row[0] for row in conn.execute(CLAIM)]
                if not ids:
                    break
                conn.execute("UPDATE raw_jobs SET state = 'done' WHERE id = ANY(%s)", (ids,))
            elapsed = time.perf_counter() - started
        else:
            raise SystemExit(f"raw-sql has no {scenario} scenario")
    return {"jobs": size, "seconds": round(elapsed, 3), "jobs_per_s": round(size / elapsed)}


class RawAdapter:
    library = "raw-sql"
    version = f"psycopg {psycopg.__version__}"
    settings = {"connection": 1, "drain": "claim+complete, batch 100, no handler"}


async def _main(args: Any) -> dict[str, Any]:
    result = await anyio.to_thread.run_sync(_run, args.url, args.scenario, args.size)
    return {
        "library": RawAdapter.library,
        "version": RawAdapter.version,
        "scenario": args.scenario,
        "settings": RawAdapter.settings,
        **result,
    }


if __name__ == "__main__":
    import json

    args = _common.parse()
    print(json.dumps(anyio.run(_main, args)), flush=True)
