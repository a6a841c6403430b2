"""``awa worker MODULE:CLIENT``: run a client's handlers as a worker process.

SIGINT or SIGTERM starts a graceful shutdown (running jobs get the drain
timeout, the rest are handed back); a second signal forces it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from typing import Any

import anyio

import awa
from awa.errors import ConfigError


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "worker",
        help="run the handlers registered on a client",
        description="Import MODULE, take its CLIENT (an awa.AsyncClient or awa.Client with"
        " handlers registered) and work its queues until SIGINT/SIGTERM.",
    )
    parser.add_argument("target", metavar="MODULE:CLIENT", help="e.g. myapp.jobs:client")
    parser.add_argument(
        "--queue",
        "-q",
        action="append",
        default=None,
        metavar="NAME[:MAX_WORKERS]",
        help="a queue to work (repeatable; default: the handlers' queues)",
    )
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--drain-timeout", type=float, default=None, metavar="SECONDS")
    parser.set_defaults(run=run)


def load_client(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"expected MODULE:CLIENT, got {target!r}", field="target")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}", field="target") from None
    client = getattr(module, attr, None)
    if not isinstance(client, awa.AsyncClient | awa.Client):
        raise ConfigError(
            f"{target} is {type(client).__name__}, not an awa.AsyncClient or awa.Client",
            field="target",
        )
    return client


def parse_queues(values: list[str] | None) -> list[Any] | None:
    if not values:
        return None
    queues: list[Any] = []
    for value in values:
        name, _, workers = value.partition(":")
        if workers:
            if not workers.isdigit():
                raise ConfigError(f"--queue {value!r}: MAX_WORKERS must be a number", field="queue")
            queues.append((name, int(workers)))
        else:
            queues.append(name)
    return queues


def run(args: argparse.Namespace) -> int:
    client = load_client(args.target)
    queues = parse_queues(args.queue)
    options = {} if args.drain_timeout is None else {"drain_timeout": args.drain_timeout}
    if isinstance(client, awa.Client):
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            client.run(queues, backend=args.backend, **options)
        except KeyboardInterrupt:
            pass
        return 0
    anyio.run(_run_async, client, queues, options, backend=args.backend)
    return 0


async def _run_async(client: awa.AsyncClient, queues: Any, options: dict[str, Any]) -> None:
    async with anyio.create_task_group() as tg:

        async def watch_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                count = 0
                async for signum in received:
                    count += 1
                    runtime = client.runtime
                    if runtime is None:
                        continue
                    if count == 1:
                        print(
                            f"awa: {signal.Signals(signum).name}: shutting down gracefully"
                            " (send it again to force)",
                            file=sys.stderr,
                            flush=True,
                        )
                        runtime.request_stop()
                    else:
                        print("awa: forcing shutdown", file=sys.stderr, flush=True)
                        runtime.force_stop()

        tg.start_soon(watch_signals)
        try:
            await client.run(queues, **options)
        finally:
            tg.cancel_scope.cancel()
    await client.close()
