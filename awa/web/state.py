"""What the web app knows: its client and its safety settings."""

from __future__ import annotations

import time

import attrs
from starlette.requests import Request

import awa

READ_ONLY_RECHECK_SECONDS = 30.0


@attrs.define
class UIState:
    """Shared by every request of one app.

    ``read_only`` forced by the operator is final; otherwise the database is
    asked (a hot standby or ``default_transaction_read_only``) and the answer
    kept for ``READ_ONLY_RECHECK_SECONDS``.
    """

    client: awa.AsyncClient
    forced_read_only: bool = False
    token: str | None = None
    title: str = "awa"
    _detected: bool | None = None
    _detected_at: float = 0.0

    async def read_only(self) -> bool:
        if self.forced_read_only:
            return True
        now = time.monotonic()
        if self._detected is None or now - self._detected_at > READ_ONLY_RECHECK_SECONDS:
            try:
                self._detected = await self.client.database_read_only()
                self._detected_at = now
            except awa.AwaError:
                return False  # the request itself will report the database
        return self._detected


def ui(request: Request) -> UIState:
    state: UIState = request.app.state.ui
    return state
