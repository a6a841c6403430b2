"""Admin cancels reach running handlers: NOTIFY awa:cancel carries (job_id, run_lease).

Any role that can connect may send a NOTIFY, so a notice is only a hint: the
handler is cancelled once the database confirms that the attempt no longer
holds its job (the admin cancel moved the row). A forged notice for a live
attempt changes nothing.
"""

from __future__ import annotations

import json
import logging

import anyio
from anyio.abc import TaskGroup

from awa._db.listener import Listener, Subscription
from awa._model.channels import CANCEL_CHANNEL
from awa._runtime.db import Db
from awa._runtime.lease import ADMIN, InFlight, LeaseToken
from awa._runtime.signals import Signals
from awa._sql import Q
from awa.errors import AwaError

logger = logging.getLogger("awa.cancel")

CHECK_TIMEOUT = 10.0


class CancelWatcher:
    def __init__(
        self,
        listener: Listener,
        inflight: InFlight,
        signals: Signals,
        *,
        db: Db,
        tasks: TaskGroup,
    ) -> None:
        self.inflight = inflight
        self.signals = signals
        self.db = db
        self.tasks = tasks
        self.subscription: Subscription = listener.subscribe(CANCEL_CHANNEL, self.on_notify)

    def on_notify(self, payload: str) -> None:
        """A notice that an admin cancelled a job: check it if the attempt runs here."""
        try:
            message = json.loads(payload)
            token = LeaseToken(int(message["job_id"]), int(message["run_lease"]))
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring malformed cancel notification %r", payload)
            return
        if self.inflight.get(token) is None:
            return
        self.tasks.start_soon(self.confirm, token, name=f"awa cancel check {token.job_id}")

    async def confirm(self, token: LeaseToken) -> None:
        """Cancel the handler if its attempt lost the job; ignore a forged notice.

        Spec: AwaCore!LeaseLost
        """
        try:
            with anyio.fail_after(CHECK_TIMEOUT):
                held = await self.db.one(
                    Q["job_lease_held"], {"id": token.job_id, "lease": token.run_lease}
                )
        except (AwaError, TimeoutError) as exc:
            # Can't tell: leave the handler be. Its outcome is fenced by the
            # lease, so a real cancel still wins when it finishes.
            logger.warning("could not confirm the cancel of job %s: %s", token.job_id, exc)
            return
        if held is not None:
            logger.warning(
                "ignoring a cancel notice for job %s: its attempt still holds the job"
                " (a NOTIFY not sent by awa?)",
                token.job_id,
            )
            self.signals.emit("cancel_notice_ignored", id=token.job_id, lease=token.run_lease)
            return
        attempt = self.inflight.get(token)
        if attempt is None:
            return
        logger.info("job %s cancelled by an admin: cancelling its handler", token.job_id)
        attempt.cancel(ADMIN)
        self.signals.emit("admin_cancelled", id=token.job_id, lease=token.run_lease)

    def close(self) -> None:
        self.subscription.close()
