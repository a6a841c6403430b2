"""Admin cancels reach running handlers: NOTIFY awa:cancel carries (job_id, run_lease)."""

from __future__ import annotations

import json
import logging

from awa._db.listener import Listener, Subscription
from awa._model.channels import CANCEL_CHANNEL
from awa._runtime.lease import ADMIN, InFlight, LeaseToken
from awa._runtime.signals import Signals

logger = logging.getLogger("awa.cancel")


class CancelWatcher:
    def __init__(self, listener: Listener, inflight: InFlight, signals: Signals) -> None:
        self.inflight = inflight
        self.signals = signals
        self.subscription: Subscription = listener.subscribe(CANCEL_CHANNEL, self.on_notify)

    def on_notify(self, payload: str) -> None:
        """An admin cancelled a job: if its attempt runs here, stop the handler.

        Spec: AwaCore!LeaseLost
        """
        try:
            message = json.loads(payload)
            token = LeaseToken(int(message["job_id"]), int(message["run_lease"]))
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring malformed cancel notification %r", payload)
            return
        attempt = self.inflight.get(token)
        if attempt is None:
            return
        logger.info("job %s cancelled by an admin: cancelling its handler", token.job_id)
        attempt.cancel(ADMIN)
        self.signals.emit("admin_cancelled", id=token.job_id, lease=token.run_lease)

    def close(self) -> None:
        self.subscription.close()
