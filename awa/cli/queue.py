"""``awa queue``: stats, pause, resume, drain."""

from __future__ import annotations

import argparse
from typing import Any

from awa.cli.job import positive_int
from awa.cli.output import EXIT_OK, add_json_flag, emit_json, emit_table, open_client, progress

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
    add_json_flag(drain)
    drain.set_defaults(run=run_drain)


def run_stats(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        stats = client.queue_stats()
    if args.json:
        emit_json(stats)
    else:
        emit_table([{c: getattr(s, c) for c in STATS_COLUMNS} for s in stats], STATS_COLUMNS)
    return EXIT_OK


def run_pause(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        client.pause_queue(args.queue, paused_by=args.by)
    if args.json:
        emit_json({"queue": args.queue, "paused": True})
    else:
        print(f"queue {args.queue} paused")
    return EXIT_OK


def run_resume(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        client.resume_queue(args.queue)
    if args.json:
        emit_json({"queue": args.queue, "paused": False})
    else:
        print(f"queue {args.queue} resumed")
    return EXIT_OK


def run_drain(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        drained = client.drain_queue(
            args.queue,
            batch_size=args.batch_size,
            on_progress=progress("cancelled", quiet=args.quiet or args.json),
        )
    if args.json:
        emit_json({"queue": args.queue, "cancelled": drained})
    else:
        print(f"queue {args.queue} drained: {drained} job(s) cancelled")
    return EXIT_OK
