"""``awa cron``: list, trigger, pause, resume, remove stored schedules."""

from __future__ import annotations

import argparse
from typing import Any

from awa.cli.output import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    add_json_flag,
    answer,
    answer_table,
    emit_json,
    fail,
    open_client,
)

LIST_COLUMNS = ("name", "cron_expr", "timezone", "kind", "queue", "paused", "next_fire_at")


def add_parser(commands: Any) -> None:
    group = commands.add_parser("cron", help="periodic (cron) schedules")
    sub = group.add_subparsers(dest="cron_command", metavar="COMMAND")
    sub.required = True

    listing = sub.add_parser("list", help="every stored schedule with its next fire time")
    add_json_flag(listing)
    listing.set_defaults(run=run_list)

    for name, helptext, runner in (
        ("trigger", "enqueue the schedule's job now (even while paused)", run_trigger),
        ("pause", "stop the schedule's automatic fires", run_pause),
        ("resume", "resume the schedule's fires", run_resume),
        ("remove", "delete the stored schedule", run_remove),
    ):
        parser = sub.add_parser(name, help=helptext)
        parser.add_argument("name")
        add_json_flag(parser)
        if name == "pause":
            parser.add_argument("--by", default="awa cron pause", help="who paused it")
        parser.set_defaults(run=runner)


def run_list(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        schedules = client.list_cron_jobs()
    return answer_table(args, schedules, LIST_COLUMNS)


def run_trigger(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        job = client.trigger_cron(args.name)
    return answer(args, job, f"schedule {args.name} triggered: job {job.id}")


def run_pause(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        info = client.pause_cron(args.name, paused_by=args.by)
    return answer(args, info, f"schedule {args.name} paused")


def run_resume(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        info = client.resume_cron(args.name)
    return answer(args, info, f"schedule {args.name} resumed; next fire {info.next_fire_at}")


def run_remove(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        removed = client.remove_cron(args.name)
    if args.json:
        emit_json({"name": args.name, "removed": removed})
    elif removed:
        print(f"schedule {args.name} removed")
    if not removed:
        if not args.json:
            fail(f"no periodic job named {args.name!r}")
        return EXIT_NOT_FOUND
    return EXIT_OK
