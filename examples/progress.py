"""Progress tracking: checkpoint and resume on retry (the seed README's snippet).

The first attempt imports half the items, checkpoints after each one and then
fails; the retry reads the checkpoint from ``job.progress`` and carries on
from there instead of starting over.
"""

import asyncio
import os
from dataclasses import dataclass

import awa

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://localhost/mydb")
ITEMS = 10


@dataclass
class BatchImport:
    source: str


@dataclass
class Item:
    id: int


processed: list[int] = []
failures: list[int] = []
finished = asyncio.Event()


def fetch_items(after: int) -> list[Item]:
    return [Item(i) for i in range(after + 1, ITEMS + 1)]


def process(item: Item) -> None:
    if item.id == 6 and not failures:
        failures.append(item.id)  # the first pass fails here, once
        raise ConnectionError("the source dropped the connection at item 6")
    processed.append(item.id)


async def main() -> None:
    client = awa.AsyncClient(DATABASE_URL)
    await client.migrate()

    # --- the seed README's snippet ---
    @client.worker(BatchImport, queue="etl")
    async def handle_import(job):
        last_id = (job.progress or {}).get("metadata", {}).get("last_id", 0)
        for item in fetch_items(after=last_id):
            process(item)
            job.set_progress(50, "halfway")
            job.update_metadata({"last_id": item.id})
            await job.flush_progress()

    # ---

    @client.on("retried")
    async def retried(event):
        print(f"attempt {event.job.attempt} failed: {event.error['message']}; will resume")

    @client.on("completed")
    async def completed(event):
        finished.set()

    job = await client.insert(BatchImport(source="orders.csv"), queue="etl")
    # The retry waits for the real backoff (about 2 s): the leader promotes it when due.
    client.start([("etl", 1)], heartbeat_interval=1, heartbeat_staleness=3)
    await asyncio.wait_for(finished.wait(), timeout=60)
    await client.shutdown()
    done = await client.get_job(job.id)
    await client.close()
    print(f"job {done.id} {done.state.value} after {done.attempt} attempts")
    print("items processed:", processed)


asyncio.run(main())
