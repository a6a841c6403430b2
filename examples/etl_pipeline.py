"""An ETL pipeline: a cron schedule starts each run, files load in parallel.

Every second (a demo schedule; think ``0 2 * * *``) the leader enqueues a
``NightlyImport``. Its handler plans the run in one transaction: one
``LoadFile`` job per source file, an ``Aggregate`` job, and its own
completion, all committed together (``job.transaction()``). Loaders
checkpoint their progress as they go and commit their rows together with
their completion, so a retried loader neither loses nor doubles rows. The
aggregate snoozes until every file of the run is loaded, then reports. The
first run pauses the schedule, so the example ends after one run.
"""

import asyncio
import os
from dataclasses import dataclass

import awa

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://localhost/mydb")

SOURCES = {
    "orders.csv": [(i, 10 * i) for i in range(1, 101)],
    "refunds.csv": [(i, -5 * i) for i in range(1, 21)],
    "fees.csv": [(i, 3) for i in range(1, 51)],
}


@dataclass
class NightlyImport:
    source: str


@dataclass
class LoadFile:
    run_id: int
    name: str


@dataclass
class Aggregate:
    run_id: int
    files: int


async def main() -> None:
    finished = asyncio.Event()
    async with awa.AsyncClient(DATABASE_URL) as client:
        await client.migrate()
        async with client.transaction() as tx:
            await tx.execute(
                "CREATE TABLE IF NOT EXISTS etl_rows (run_id bigint, file text, line int,"
                " amount bigint, PRIMARY KEY (run_id, file, line))"
            )

        client.periodic(
            "nightly-import",
            "* * * * * *",  # six fields: seconds first
            NightlyImport,
            NightlyImport(source="s3://exports"),
            queue="etl",
        )

        @client.worker(NightlyImport, queue="etl")
        async def plan(job: awa.JobContext) -> None:
            await client.pause_cron("nightly-import", paused_by="etl example")
            print(f"run {job.id}: planning {len(SOURCES)} files from {job.args.source}")
            async with job.transaction() as tx:
                for name in SOURCES:
                    await tx.insert(LoadFile(run_id=job.id, name=name), queue="etl")
                await tx.insert(Aggregate(run_id=job.id, files=len(SOURCES)), queue="etl")

        @client.worker(LoadFile, queue="etl")
        async def load(job: awa.JobContext) -> None:
            rows = SOURCES[job.args.name]
            async with job.transaction() as tx:
                for n, (line, amount) in enumerate(rows, start=1):
                    await tx.execute(
                        "INSERT INTO etl_rows VALUES ($1, $2, $3, $4)",
                        job.args.run_id,
                        job.args.name,
                        line,
                        amount,
                    )
                    if n % 25 == 0:
                        job.set_progress(100 * n / len(rows), f"{n}/{len(rows)} rows")
                        job.update_metadata({"last_line": line})
            print(f"loaded {job.args.name}: {len(rows)} rows")

        @client.worker(Aggregate, queue="etl")
        async def aggregate(job: awa.JobContext) -> object:
            async with client.transaction() as tx:
                totals = await tx.fetch_one(
                    "SELECT count(DISTINCT file) AS files, count(*) AS rows,"
                    " coalesce(sum(amount), 0) AS total FROM etl_rows WHERE run_id = $1",
                    job.args.run_id,
                )
            if totals["files"] < job.args.files:
                return awa.Snooze(0.2)  # not every file is in yet: look again soon
            print(
                f"run {job.args.run_id}: {totals['files']} files,"
                f" {totals['rows']} rows, total {totals['total']}"
            )
            finished.set()
            return None

        client.start([("etl", 4)], promote_interval=0.05)
        await asyncio.wait_for(finished.wait(), timeout=30)
        info = await client.get_cron_job("nightly-import")
        print(f"schedule paused: {info.paused}")


asyncio.run(main())
