"""``awa callbacks serve``: the HTTP callback receiver on its own."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio

import awa
from awa.callbacks import DEFAULT_PATH_PREFIX
from awa.cli.output import require_url
from awa.cli.serving import serve
from awa.errors import ConfigError


def add_parser(commands: Any) -> None:
    group = commands.add_parser("callbacks", help="the HTTP callback receiver")
    sub = group.add_subparsers(dest="callbacks_command", metavar="COMMAND")
    sub.required = True
    parser = sub.add_parser(
        "serve",
        help="receive signed callbacks over HTTP",
        description="POST {prefix}/{callback_id}/complete|fail|heartbeat|resume, signed with"
        " the secret read from the environment (see awa.callbacks).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--prefix", default=DEFAULT_PATH_PREFIX)
    parser.add_argument(
        "--secret-env",
        default="AWA_CALLBACK_SECRET",
        metavar="VAR",
        help="environment variable holding the signing secret (default AWA_CALLBACK_SECRET)",
    )
    parser.add_argument(
        "--allow-unsigned", action="store_true", help="accept requests without a signature"
    )
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.set_defaults(run=run)


def signing_secret(env: str, *, allow_unsigned: bool, flag: str = "--allow-unsigned") -> str | None:
    """The receiver's secret from ``$env``; its absence is an error unless unsigned is allowed."""
    secret = os.environ.get(env) or None
    if secret is None and not allow_unsigned:
        raise ConfigError(f"no signing secret: set ${env} (or pass {flag})", field="secret")
    return secret


def run(args: argparse.Namespace) -> int:
    url = require_url(args.database_url)
    secret = signing_secret(args.secret_env, allow_unsigned=args.allow_unsigned)
    anyio.run(_serve, url, secret, args, backend=args.backend)
    return 0


async def _serve(url: str, secret: str | None, args: argparse.Namespace) -> None:
    from starlette.applications import Starlette

    from awa.web.callbacks import CallbackReceiver

    client = awa.AsyncClient(url)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.close()

    receiver = CallbackReceiver(
        client, secret=secret, allow_unsigned=args.allow_unsigned, prefix=args.prefix
    )
    app = Starlette(routes=receiver.routes(), lifespan=lifespan)
    print(
        f"awa: callbacks on http://{args.host}:{args.port}{receiver.prefix}/<id>/<action>",
        file=sys.stderr,
        flush=True,
    )
    await serve(app, args.host, args.port)
