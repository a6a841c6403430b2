"""``awa serve``: the web UI and its JSON API.

Binds 127.0.0.1:3000 by default. Off loopback a token is required
(``--token`` or ``$AWA_UI_TOKEN``); ``--read-only`` refuses every change (and
a read-only database turns it on by itself).
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Sequence
from typing import Any, NamedTuple

import anyio

import awa
from awa.cli.callbacks import signing_secret
from awa.cli.output import EXIT_OK, note, require_url
from awa.cli.serving import serve
from awa.errors import ConfigError

TOKEN_ENV = "AWA_UI_TOKEN"


class CallbackSettings(NamedTuple):
    """``awa serve --callbacks``: how the mounted receiver checks signatures."""

    secret: str | None
    allow_unsigned: bool


def add_ui_arguments(parser: Any, *, port: int = 3000) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=port, help=f"port (default {port})")
    parser.add_argument("--read-only", action="store_true", help="refuse every change")
    parser.add_argument(
        "--token",
        default=None,
        help=f"require this token (default ${TOKEN_ENV}); required off loopback",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept this Host name (repeatable; without a token only local names are"
        " accepted, against DNS rebinding)",
    )


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="the web UI and JSON API",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    add_ui_arguments(parser)
    parser.add_argument("--title", default="awa", help="shown in the page header")
    parser.add_argument(
        "--callbacks",
        action="store_true",
        help="also receive signed callbacks: POST /api/callbacks/<id>/<action> (docs/callbacks.md)",
    )
    parser.add_argument(
        "--callback-secret-env",
        default="AWA_CALLBACK_SECRET",
        metavar="VAR",
        help="with --callbacks: the variable holding the signing secret",
    )
    parser.add_argument(
        "--callback-allow-unsigned",
        action="store_true",
        help="with --callbacks: accept callbacks without a signature",
    )
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.set_defaults(run=run)


def ui_settings(args: argparse.Namespace) -> tuple[str, int, str | None]:
    """Validated (host, port, token) from the UI flags."""
    from awa.web.security import is_loopback

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: expected 0..65535", field="port")
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if token is not None and len(token) < 16:
        raise ConfigError("the UI token must have at least 16 characters", field="token")
    if token is None and not is_loopback(args.host):
        raise ConfigError(
            f"refusing to serve the UI on {args.host} without a token: anyone who can reach it"
            f" could retry, cancel and drain jobs. Set ${TOKEN_ENV} (or --token), or bind"
            " 127.0.0.1 and put a reverse proxy with authentication in front.",
            field="token",
        )
    check_port_free(args.host, args.port)
    return args.host, args.port, token


def check_port_free(host: str, port: int) -> None:
    """A clear error now rather than a traceback from the server later."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}", field="port"
            ) from None


def allowed_hosts(host: str, token: str | None, extra: Sequence[str]) -> list[str] | None:
    """Without a token the UI answers only to local names (and ``extra``);
    with one, any name (the token is the guard)."""
    if token is not None and not extra:
        return None
    return ["127.0.0.1", "localhost", "::1", host, *extra]


async def serve_ui(
    client: awa.AsyncClient,
    host: str,
    port: int,
    *,
    read_only: bool,
    token: str | None,
    title: str = "awa",
    stop: anyio.Event | None = None,
    handle_signals: bool = True,
    extra: Sequence[str] = (),
    callbacks: CallbackSettings | None = None,
) -> None:
    """Serve the UI for ``client`` until SIGINT/SIGTERM or ``stop`` is set."""
    from awa.web.app import create_app
    from awa.web.callbacks import CallbackReceiver

    receiver = (
        None
        if callbacks is None
        else CallbackReceiver(
            client, secret=callbacks.secret, allow_unsigned=callbacks.allow_unsigned
        )
    )
    app = create_app(
        client,
        read_only=read_only,
        token=token,
        title=title,
        allowed_hosts=allowed_hosts(host, token, extra),
        callbacks=receiver,
    )
    shown = f"[{host}]" if ":" in host else host
    note(
        f"UI on http://{shown}:{port}/"
        + (" (read-only)" if read_only else "")
        + (" (token required)" if token else "")
        + (f"; callbacks on {receiver.prefix}/<id>/<action>" if receiver is not None else "")
    )
    await serve(app, host, port, stop=stop, handle_signals=handle_signals)


def run(args: argparse.Namespace) -> int:
    url = require_url(args.database_url)
    host, port, token = ui_settings(args)
    callbacks = None
    if args.callbacks:
        if args.read_only:
            raise ConfigError("--callbacks resolve jobs: not with --read-only", field="callbacks")
        secret = signing_secret(
            args.callback_secret_env,
            allow_unsigned=args.callback_allow_unsigned,
            flag="--callback-allow-unsigned",
        )
        callbacks = CallbackSettings(secret, args.callback_allow_unsigned)

    async def main() -> None:
        async with awa.AsyncClient(url, max_connections=5) as client:
            await serve_ui(
                client,
                host,
                port,
                read_only=args.read_only,
                token=token,
                title=args.title,
                extra=args.allowed_host,
                callbacks=callbacks,
            )

    anyio.run(main, backend=args.backend)
    return EXIT_OK
