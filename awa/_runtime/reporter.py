"""Each worker process publishes a snapshot of itself to ``awa.runtime_instances``."""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import TaskStatus

from awa._runtime.db import Db
from awa._sql import Q
from awa._version import __version__
from awa.errors import AwaError

logger = logging.getLogger("awa.reporter")


class Reporter:
    def __init__(
        self,
        db: Db,
        instance_id: uuid.UUID,
        *,
        interval: float,
        snapshot: Callable[[], dict[str, Any]],
    ) -> None:
        self.db = db
        self.instance_id = instance_id
        self.interval = interval
        self.snapshot = snapshot
        self.shutting_down = False

    async def publish(self) -> None:
        snap = self.snapshot()
        await self.db.exec(
            Q["runtime_instance_upsert"],
            {
                "instance_id": self.instance_id,
                "hostname": socket.gethostname(),
                "pid": os.getpid(),
                "version": __version__,
                "leader": bool(snap.get("leader")),
                "shutting_down": self.shutting_down,
                "snapshot": json.dumps(snap, default=str),
            },
        )

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            await self.publish()
        except AwaError as exc:
            logger.warning("could not publish the runtime snapshot: %s", exc)
        task_status.started()
        try:
            while True:
                await anyio.sleep(self.interval)
                try:
                    await self.publish()
                except AwaError as exc:
                    logger.warning("could not publish the runtime snapshot: %s", exc)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                try:
                    await self.db.exec(
                        Q["runtime_instance_delete"], {"instance_id": self.instance_id}
                    )
                except AwaError:
                    pass
