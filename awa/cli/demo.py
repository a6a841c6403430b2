"""``awa demo``: a real database, real workers, jobs that succeed, retry and fail.

Without ``--database-url`` / ``$DATABASE_URL`` it starts an embedded
PostgreSQL (the ``pgserver`` wheel). It migrates, enqueues example jobs (an
email batch, a scheduled email, an import that reports progress and resumes
from its checkpoint after a failure, a payment that fails for good, a report
built by a plain ``def`` handler), runs workers and prints what happens.
It also serves the web UI (``awa serve``) on http://127.0.0.1:3000/ so you
can watch the jobs; ``--no-ui`` turns it off. Ctrl-C stops it cleanly;
``--once`` stops when every demo job is finished (without the UI unless
``--ui`` is given).
"""

from __future__ import annotations

import argparse
import functools
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio

import awa
from awa.cli.serve import add_ui_arguments, serve_ui, ui_settings

DEMO_QUEUES = [("email", 4), ("etl", 1), ("payments", 2), ("reports", 2)]


@dataclass
class SendEmail:
    to: str
    subject: str


@dataclass
class ImportBatch:
    source: str
    items: int


@dataclass
class ChargeCard:
    customer: str
    cents: int


@dataclass
class BuildReport:
    name: str


class CardDeclined(awa.TerminalError):
    """The card issuer said no: retrying won't help."""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="run a demo: embedded PostgreSQL, workers, jobs",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--once", action="store_true", help="exit when every demo job finished")
    parser.add_argument("--emails", type=int, default=20, help="how many emails to enqueue")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument(
        "--ui",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve the web UI (default: on, off with --once)",
    )
    add_ui_arguments(parser)
    parser.set_defaults(run=run)


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {message}", flush=True)


def register(client: awa.AsyncClient) -> None:
    @client.worker(SendEmail, queue="email")
    async def send_email(job: awa.JobContext) -> None:
        await anyio.sleep(0.02)  # pretend to talk to an SMTP server

    @client.worker(ImportBatch, queue="etl")
    async def import_batch(job: awa.JobContext) -> None:
        done = int(((job.progress or {}).get("metadata") or {}).get("last_item", 0))
        if done:
            say(f"   import #{job.id} resumes after item {done} (attempt {job.attempt})")
        for item in range(done + 1, job.args.items + 1):
            await anyio.sleep(0.05)
            job.set_progress(100 * item / job.args.items, f"item {item}/{job.args.items}")
            job.update_metadata({"last_item": item})
            await job.flush_progress()
            if job.attempt == 1 and item == job.args.items // 2:
                raise ConnectionError("source went away half way")

    @client.worker(ChargeCard, queue="payments")
    async def charge_card(job: awa.JobContext) -> awa.RetryAfter | None:
        if job.attempt < job.max_attempts:
            return awa.RetryAfter(0.5)  # the gateway said "try again shortly"
        raise CardDeclined(f"card of {job.args.customer} declined")

    @client.worker(BuildReport, queue="reports")
    def build_report(job: awa.JobContext) -> None:
        time.sleep(0.2)  # a plain def handler runs in a worker thread

    async def show(event: awa.JobEvent) -> None:
        marks = {"completed": "done ", "retried": "retry", "failed": "FAIL ", "snoozed": "snooze"}
        detail = f" ({event.error['message']})" if event.error else ""
        say(f"{marks.get(event.event, event.event)}  {event.job.kind} #{event.job.id}{detail}")

    for event in ("completed", "retried", "failed"):
        client.on(event, show)

    # A schedule for the Cron page: stored when the workers start.
    client.periodic("daily_report", "0 6 * * *", BuildReport, BuildReport("daily"), queue="reports")


async def enqueue(client: awa.AsyncClient, emails: int) -> list[int]:
    ids = list(
        (
            await client.insert_many(
                [SendEmail(f"user{i}@example.com", "Welcome") for i in range(emails)],
                queue="email",
            )
        ).ids
    )
    later = await client.insert(
        SendEmail("later@example.com", "Scheduled"), queue="email", run_at=timedelta(seconds=3)
    )
    etl = await client.insert(ImportBatch("orders.csv", 10), queue="etl")
    card = await client.insert(ChargeCard("alice", 4200), queue="payments", max_attempts=3)
    report = await client.insert(BuildReport("daily"), queue="reports")
    say(f"enqueued {emails} emails, 1 scheduled email, an import, a payment and a report")
    return [*ids, later.id, etl.id, card.id, report.id]


async def all_finished(client: awa.AsyncClient, ids: list[int]) -> bool:
    for job_id in ids:
        if not (await client.get_job(job_id)).is_terminal:
            return False
    return True


async def demo(url: str, options: argparse.Namespace) -> None:
    serve_it = options.ui if options.ui is not None else not options.once
    host, port, token = ui_settings(options)
    stop = anyio.Event()
    async with awa.AsyncClient(url) as client:
        await client.migrate()
        register(client)
        ids = await enqueue(client, options.emails)
        async with anyio.create_task_group() as tg:

            async def stop_on_signal() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                    async for _ in received:
                        say("stopping (jobs still running are handed back)")
                        stop.set()
                        return

            tg.start_soon(stop_on_signal)
            async with anyio.create_task_group() as ui_tg:
                if serve_it:
                    ui_tg.start_soon(
                        functools.partial(
                            serve_ui,
                            client,
                            host,
                            port,
                            read_only=options.read_only,
                            token=token,
                            title="awa demo",
                            stop=stop,
                            handle_signals=False,
                            extra=options.allowed_host,
                        )
                    )
                    shown = f"[{host}]" if ":" in host else host
                    say(f"web UI: http://{shown}:{port}/")
                client.start(
                    DEMO_QUEUES,
                    heartbeat_interval=2,
                    heartbeat_staleness=6,
                    rescue_interval=2,
                    drain_timeout=5,
                    snapshot_interval=2,
                )
                await client.wait_started()
                say("workers started; Ctrl-C to stop")
                while not stop.is_set():
                    with anyio.move_on_after(1):
                        await stop.wait()
                    if options.once and not stop.is_set() and await all_finished(client, ids):
                        stats = {s.queue: s for s in await client.queue_stats()}
                        say(
                            "all demo jobs finished: "
                            + ", ".join(
                                f"{q} {s.completed_last_hour} done" for q, s in stats.items()
                            )
                        )
                        stop.set()
            tg.cancel_scope.cancel()
        await client.shutdown()
    say("bye")


def run(args: argparse.Namespace) -> int:
    if args.database_url:
        anyio.run(demo, args.database_url, args, backend=args.backend)
        return 0
    try:
        import pgserver  # the embedded PostgreSQL
    except ImportError:
        print(
            "awa demo: no DATABASE_URL and no embedded PostgreSQL:"
            " pip install 'awa-pg[demo]' or set DATABASE_URL",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="awa-demo-") as data:
        say("starting an embedded PostgreSQL (pgserver)")
        server = pgserver.get_server(data, cleanup_mode="stop")  # type: ignore[attr-defined]
        try:
            anyio.run(demo, server.get_uri(), args, backend=args.backend)
        finally:
            server.cleanup()
    return 0
