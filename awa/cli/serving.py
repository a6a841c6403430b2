"""Running an ASGI app with hypercorn under asyncio or trio until SIGINT/SIGTERM."""

from __future__ import annotations

import importlib
import signal
import sys
from typing import Any

import anyio


async def serve(
    app: Any,
    host: str,
    port: int,
    *,
    stop: anyio.Event | None = None,
    handle_signals: bool = True,
) -> None:
    """Serve ``app`` on ``host:port`` until a signal arrives or ``stop`` is set
    (in the current backend). ``handle_signals=False`` leaves SIGINT/SIGTERM
    to the caller, who sets ``stop``."""
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = "-"
    stop = stop or anyio.Event()

    async def wait_for_signal() -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
            async for _ in received:
                print("awa: stopping the server", file=sys.stderr, flush=True)
                stop.set()
                return

    try:
        import sniffio

        library = sniffio.current_async_library()
    except Exception:  # pragma: no cover - sniffio comes with anyio's backends
        library = "asyncio"
    hypercorn: Any = importlib.import_module(
        "hypercorn.trio" if library == "trio" else "hypercorn.asyncio"
    )
    async with anyio.create_task_group() as tg:
        if handle_signals:
            tg.start_soon(wait_for_signal)
        await hypercorn.serve(app, config, shutdown_trigger=stop.wait)
        tg.cancel_scope.cancel()
