"""``awa queue``: stats, pause, resume, drain."""

from __future__ import annotations

import argparse
from typing import Any

from awa.cli.job import positive_int
from awa.cli.output import (
    EXIT_FAILED,
    add_json_flag,
    answer,
    answer_table,
    confirm,
    fail,
    open_client,
    progress,
)

STATS_COLUMNS = (
    "queue",
    "paused",
    "available",
    "running",
    "scheduled",
    "retryable",
    "waiting_external",
    "failed",
    "completed_last_hour",
    "lag_seconds",
)


def add_parser(commands: Any) -> None:
    group = commands.add_parser("queue", help="queue stats, pause, resume, drain")
    sub = group.add_subparsers(dest="queue_command", metavar="COMMAND")
    sub.required = True

    stats = sub.add_parser("stats", help="counts per queue, lag, pause state")
    add_json_flag(stats)
    stats.set_defaults(run=run_stats)

    pause = sub.add_parser("pause", help="stop workers claiming the queue's jobs")
    pause.add_argument("queue")
    pause.add_argument("--by", default="awa queue pause", help="who paused it (recorded)")
    add_json_flag(pause)
    pause.set_defaults(run=run_pause)

    resume = sub.add_parser("resume", help="let workers claim the queue's jobs again")
    resume.add_argument("queue")
    add_json_flag(resume)
    resume.set_defaults(run=run_resume)

    drain = sub.add_parser(
        "drain", help="cancel every job of the queue waiting to run (running ones finish)"
    )
    drain.add_argument("queue")
    drain.add_argument("--batch-size", type=positive_int, default=1000)
    drain.add_argument("--quiet", action="store_true", help="no progress lines")
    drain.add_argument("--yes", "-y", action="store_true", help="don't ask on a terminal")
    add_json_flag(drain)
    drain.set_defaults(run=run_drain)


def run_stats(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        stats = client.queue_stats()
    return answer_table(args, stats, STATS_COLUMNS)


def run_pause(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        client.pause_queue(args.queue, paused_by=args.by)
    return answer(args, {"queue": args.queue, "paused": True}, f"queue {args.queue} paused")


def run_resume(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        client.resume_queue(args.queue)
    return answer(args, {"queue": args.queue, "paused": False}, f"queue {args.queue} resumed")


def run_drain(args: argparse.Namespace) -> int:
    if not confirm(f"Cancel every job of queue {args.queue} waiting to run?", assume_yes=args.yes):
        fail("not confirmed; nothing cancelled")
        return EXIT_FAILED
    with open_client(args.database_url) as client:
        drained = client.drain_queue(
            args.queue,
            batch_size=args.batch_size,
            on_progress=progress("cancelled", quiet=args.quiet or args.json),
        )
    return answer(
        args,
        {"queue": args.queue, "cancelled": drained},
        f"queue {args.queue} drained: {drained} job(s) cancelled",
    )
