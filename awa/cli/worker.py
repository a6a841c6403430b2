"""``awa worker MODULE:CLIENT``: run a client's handlers as a worker process.

SIGINT or SIGTERM starts a graceful shutdown (running jobs get the drain
timeout, the rest are handed back); a second signal forces it.
"""

from __future__ import annotations

import argparse
import importlib
import json
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
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="a runtime option, e.g. --set heartbeat_interval=10 (repeatable)",
    )
    parser.set_defaults(run=run)


def parse_settings(values: list[str]) -> dict[str, Any]:
    """``OPTION=VALUE`` pairs; values are JSON (numbers, true/false) or plain strings."""
    options: dict[str, Any] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {value!r}: expected OPTION=VALUE", field="set")
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


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
    options = parse_settings(args.settings)
    if args.drain_timeout is not None:
        options["drain_timeout"] = args.drain_timeout
    if isinstance(client, awa.Client):
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        client.start(queues, backend=args.backend, **options)
        _ready(client)
        try:
            client.join()
        except KeyboardInterrupt:
            pass
        finally:
            client.close()
        return 0
    anyio.run(_run_async, client, queues, options, backend=args.backend)
    return 0


def _ready(client: Any) -> None:
    runtime = client.runtime
    queues = ", ".join(q.name for q in runtime.config.queues) if runtime else "?"
    print(f"awa: worker ready (pid {os.getpid()}, queues: {queues})", file=sys.stderr, flush=True)


async def _run_async(client: awa.AsyncClient, queues: Any, options: dict[str, Any]) -> None:
    async with client:
        client.start(queues, **options)
        await client.wait_started()
        _ready(client)
        runtime = client.runtime
        assert runtime is not None
        async with anyio.create_task_group() as tg:

            async def stop_when_finished() -> None:
                await runtime.finished.wait()
                tg.cancel_scope.cancel()

            async def watch_signals() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                    count = 0
                    async for signum in received:
                        count += 1
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

            tg.start_soon(stop_when_finished)
            tg.start_soon(watch_signals)
