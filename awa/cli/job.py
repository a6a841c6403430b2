"""``awa job``: list, inspect, retry, cancel and clean up jobs."""

from __future__ import annotations

import argparse
from typing import Any

import awa
from awa.cli.output import (
    EXIT_FAILED,
    EXIT_OK,
    add_json_flag,
    answer,
    cell,
    confirm,
    emit_json,
    emit_table,
    fail,
    note,
    open_client,
    progress,
)
from awa.errors import ConfigError
from awa.web.encode import job_summary, jsonable

LIST_COLUMNS = ("id", "state", "kind", "queue", "attempt", "run_at", "last_error")


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def add_parser(commands: Any) -> None:
    group = commands.add_parser("job", help="list, inspect, retry and cancel jobs")
    sub = group.add_subparsers(dest="job_command", metavar="COMMAND")
    sub.required = True

    listing = sub.add_parser("list", help="jobs, newest first, one page at a time")
    listing.add_argument("--state", help="e.g. failed, available, running")
    listing.add_argument("--kind")
    listing.add_argument("--queue")
    listing.add_argument("--search", help="a job id, or text in the kind, queue, tags or args")
    listing.add_argument("--limit", type=positive_int, default=20, help="page size (default 20)")
    listing.add_argument("--cursor", help="the next_cursor printed with the previous page")
    add_json_flag(listing)
    listing.set_defaults(run=run_list)

    get = sub.add_parser("get", help="one job with its errors and progress")
    get.add_argument("job_id", type=positive_int, metavar="ID")
    add_json_flag(get)
    get.set_defaults(run=run_get)

    retry = sub.add_parser("retry", help="make a failed, cancelled or waiting job run now")
    retry.add_argument("job_id", type=positive_int, metavar="ID")
    add_json_flag(retry)
    retry.set_defaults(run=run_retry)

    cancel = sub.add_parser("cancel", help="cancel a job that has not finished")
    cancel.add_argument("job_id", type=positive_int, metavar="ID")
    cancel.add_argument("--reason", default="cancelled by admin (awa job cancel)")
    add_json_flag(cancel)
    cancel.set_defaults(run=run_cancel)

    for name, helptext, runner in (
        ("retry-failed", "retry every failed job of a kind and/or queue", run_retry_failed),
        ("discard", "delete every failed job of a kind and/or queue", run_discard),
    ):
        bulk = sub.add_parser(name, help=helptext, description=helptext + ", in batches.")
        bulk.add_argument("--kind")
        bulk.add_argument("--queue")
        bulk.add_argument("--all", action="store_true", help="every failed job (no filter)")
        bulk.add_argument("--batch-size", type=positive_int, default=1000)
        bulk.add_argument("--quiet", action="store_true", help="no progress lines")
        if name == "discard":
            bulk.add_argument("--yes", "-y", action="store_true", help="don't ask on a terminal")
        add_json_flag(bulk)
        bulk.set_defaults(run=runner)


def run_list(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        page = client.list_jobs(
            state=args.state,
            kind=args.kind,
            queue=args.queue,
            search=args.search,
            limit=args.limit,
            cursor=args.cursor,
        )
    if args.json:
        emit_json({"jobs": [job_summary(j) for j in page], "next_cursor": page.next_cursor})
        return EXIT_OK
    rows = [
        {**job_summary(j), "attempt": f"{j.attempt}/{j.max_attempts}", "run_at": j.run_at}
        for j in page
    ]
    emit_table(rows, LIST_COLUMNS)
    if page.next_cursor:
        note(f"more: --cursor {page.next_cursor}")
    return EXIT_OK


def show_job(job: awa.Job) -> None:
    fields = (
        ("id", job.id),
        ("kind", job.kind),
        ("queue", job.queue),
        ("state", job.state.value),
        ("priority", job.priority),
        ("attempt", f"{job.attempt}/{job.max_attempts}"),
        ("tags", list(job.tags)),
        ("created_at", job.created_at),
        ("run_at", job.run_at),
        ("attempted_at", job.attempted_at),
        ("finalized_at", job.finalized_at),
    )
    for name, value in fields:
        print(f"{name + ':':14}{cell(value)}")
    print(f"{'args:':14}{jsonable(job.args)}")
    if job.metadata:
        print(f"{'metadata:':14}{jsonable(job.metadata)}")
    if job.progress:
        print(f"{'progress:':14}{jsonable(job.progress)}")
    for error in job.errors:
        print(
            f"error (attempt {cell(error.get('attempt'))}, {cell(error.get('at'))}):"
            f" {error.get('type', 'Error')}: {error.get('message', '')}"
        )


def _one(args: argparse.Namespace, job: awa.Job, verb: str) -> int:
    return answer(args, job, f"job {job.id} {verb}: now {job.state.value}")


def run_get(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        job = client.get_job(args.job_id)
    if args.json:
        emit_json(job)
    else:
        show_job(job)
    return EXIT_OK


def run_retry(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        return _one(args, client.retry(args.job_id), "retried")


def run_cancel(args: argparse.Namespace) -> int:
    with open_client(args.database_url) as client:
        return _one(args, client.cancel(args.job_id, reason=args.reason), "cancelled")


def _check_scope(args: argparse.Namespace) -> None:
    if not (args.kind or args.queue or args.all):
        raise ConfigError("give --kind and/or --queue, or --all for every failed job")
    if args.all and (args.kind or args.queue):
        raise ConfigError("--all goes alone, without --kind or --queue")


def run_retry_failed(args: argparse.Namespace) -> int:
    _check_scope(args)
    with open_client(args.database_url) as client:
        result = client.retry_failed(
            kind=args.kind,
            queue=args.queue,
            batch_size=args.batch_size,
            on_progress=progress("retried", quiet=args.quiet or args.json),
        )
    if args.json:
        emit_json(result)
    else:
        print(f"retried {result.retried} failed job(s)")
        if result.unique_conflicts:
            print(f"{result.unique_conflicts} stayed failed: another job holds their unique key")
    return EXIT_OK


def describe_scope(args: argparse.Namespace) -> str:
    parts = [f"kind {args.kind}" if args.kind else "", f"queue {args.queue}" if args.queue else ""]
    return " and ".join(p for p in parts if p) or "every kind and queue"


def run_discard(args: argparse.Namespace) -> int:
    _check_scope(args)
    if not confirm(f"Delete every failed job of {describe_scope(args)}?", assume_yes=args.yes):
        fail("not confirmed; nothing deleted")
        return EXIT_FAILED
    with open_client(args.database_url) as client:
        discarded = client.discard_failed(
            kind=args.kind,
            queue=args.queue,
            batch_size=args.batch_size,
            on_progress=progress("discarded", quiet=args.quiet or args.json),
        )
    return answer(args, {"discarded": discarded}, f"discarded {discarded} failed job(s)")
