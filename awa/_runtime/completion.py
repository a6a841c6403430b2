"""The completer: batched, fenced finalization of job outcomes.

Handlers hand their outcome to the completer and free their slot. The
completer writes whatever has accumulated in one statement per kind of
outcome (complete / other / hand-back); under load batches grow by themselves
while the previous write is in flight. Rows whose lease is stale are left
untouched and reported, never raised to the handler.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import anyio
import attrs
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from awa._model.registry import JobEvent
from awa._runtime.db import Db
from awa._runtime.hooks import HookRunner
from awa._runtime.lease import LeaseToken
from awa._runtime.outcome import (
    CANCEL,
    COMPLETE,
    FAIL,
    HAND_BACK,
    PARK,
    RETRY,
    SNOOZE,
    Outcome,
)
from awa._runtime.signals import Signals
from awa._runtime.spec_trace import SpecTrace
from awa._sql import Q
from awa.errors import ConnectionFailed, DatabaseError, PoolTimeout

logger = logging.getLogger("awa.completer")

SPEC_ACTION = {
    COMPLETE: "Complete",
    RETRY: "Retry",
    SNOOZE: "Snooze",
    FAIL: "Fail",
    CANCEL: "HandlerCancel",
    HAND_BACK: "HandBack",
    PARK: "Park",
}
_OWN_STATEMENT = (COMPLETE, HAND_BACK, PARK)
_TRANSIENT = ("08", "40001", "40P01", "53", "57P")


@attrs.define
class CompleterStats:
    flushes: int = 0
    written: int = 0
    stale: int = 0
    write_errors: int = 0
    last_batch: int = 0


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _transient(exc: Exception) -> bool:
    if isinstance(exc, ConnectionFailed | PoolTimeout):
        return True
    return isinstance(exc, DatabaseError) and (exc.sqlstate or "").startswith(_TRANSIENT)


class Completer:
    def __init__(
        self,
        db: Db,
        *,
        batch_size: int,
        keep_completed: bool,
        hooks: HookRunner,
        signals: Signals,
        trace: SpecTrace,
        worker: str,
    ) -> None:
        self.db = db
        self.batch_size = batch_size
        self.keep_completed = keep_completed
        self.hooks = hooks
        self.signals = signals
        self.trace = trace
        self.worker = worker
        self.stats = CompleterStats()
        self._send: MemoryObjectSendStream[Outcome] | None = None
        # Submitted, not yet written: still heartbeated, so a slow write can't
        # get a finished job rescued and run again.
        self.pending: dict[LeaseToken, Outcome] = {}
        self.alive = False
        self.finished = anyio.Event()

    async def submit(self, outcome: Outcome) -> None:
        """Queue an outcome for writing (waits when the queue is full)."""
        if self._send is None:
            raise RuntimeError("the completer is not running")
        self.pending[outcome.token] = outcome
        try:
            await self._send.send(outcome)
        except BaseException:
            self.pending.pop(outcome.token, None)
            raise

    def submit_nowait(self, outcome: Outcome) -> bool:
        """Queue an outcome if there is room now; False (nothing queued) if not."""
        if self._send is None:
            raise RuntimeError("the completer is not running")
        try:
            self._send.send_nowait(outcome)
        except anyio.WouldBlock:
            return False
        self.pending[outcome.token] = outcome
        return True

    def close(self) -> None:
        """No more outcomes: ``run()`` returns once the queue is written."""
        if self._send is not None:
            self._send.close()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        send, receive = anyio.create_memory_object_stream[Outcome](self.batch_size * 4)
        self._send = send
        self.alive = True
        task_status.started()
        try:
            async with receive, send:
                async for first in receive:
                    batch = [first]
                    while len(batch) < self.batch_size:
                        try:
                            batch.append(receive.receive_nowait())
                        except (anyio.WouldBlock, anyio.EndOfStream):
                            break
                    await self.flush(batch)
        finally:
            self.alive = False
            self.finished.set()

    async def flush(self, batch: Sequence[Outcome]) -> None:
        """Write one batch, one statement per group, each retried while the error is transient.

        Spec: AwaShutdown!Flush
        """
        self.stats.flushes += 1
        self.stats.last_batch = len(batch)
        started = time.perf_counter()
        groups = (
            [o for o in batch if o.action == COMPLETE],
            [o for o in batch if o.action not in _OWN_STATEMENT],
            [o for o in batch if o.action == HAND_BACK],
            [o for o in batch if o.action == PARK],
        )
        for group in groups:
            if group:
                await self._write_group(group)
        self.signals.emit("flushed", size=len(batch), duration=time.perf_counter() - started)

    async def _write_group(self, group: list[Outcome]) -> None:
        backoff = 0.05
        while True:
            try:
                accepted = await self._write(group)
            except (DatabaseError, ConnectionFailed, PoolTimeout) as exc:
                self.stats.write_errors += 1
                if not _transient(exc):
                    if len(group) > 1:
                        logger.warning("batch write failed (%s); writing one by one", exc)
                        for outcome in group:
                            await self._write_group([outcome])
                    else:
                        logger.error("dropping outcome of job %s: %s", group[0].token.job_id, exc)
                        self.pending.pop(group[0].token, None)
                    return
                logger.warning("outcome write failed (%s); retrying in %.2fs", exc, backoff)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self._report(group, accepted)
            if group[0].action == PARK:
                await self._requeue_resumed([o for o in group if o.token not in accepted])
            return

    async def _write(self, group: list[Outcome]) -> set[LeaseToken]:
        """Write one group; return the tokens the database accepted.

        Spec: AwaCore!Complete
        Spec: AwaCore!Retry
        Spec: AwaCore!Snooze
        Spec: AwaCore!Fail
        Spec: AwaCore!HandlerCancel
        Spec: AwaCore!HandBack
        Spec: AwaCore!FinalizeRejected
        Spec: AwaLeader!Complete
        Spec: AwaCallback!Complete
        Spec: AwaConcurrencyKey!Finish
        Spec: AwaCallback!Park
        """
        ids = [o.token.job_id for o in group]
        leases = [o.token.run_lease for o in group]
        action = group[0].action
        if action == COMPLETE:
            rows = await self.db.many(
                Q["job_complete_many"], {"ids": ids, "leases": leases, "keep": self.keep_completed}
            )
        elif action == HAND_BACK:
            rows = await self.db.many(
                Q["job_hand_back_many"],
                {"ids": ids, "leases": leases, "progress": [_json(o.progress) for o in group]},
            )
        elif action == PARK:
            rows = await self.db.many(
                Q["job_park_many"],
                {
                    "ids": ids,
                    "leases": leases,
                    "callbacks": [o.callback_id for o in group],
                    "progress": [_json(o.progress) for o in group],
                },
            )
        else:
            rows = await self.db.many(
                Q["job_finalize_many"],
                {
                    "ids": ids,
                    "leases": leases,
                    "actions": [o.action for o in group],
                    "delays": [o.delay for o in group],
                    "errors": [_json(o.error) for o in group],
                    "progress": [_json(o.progress) for o in group],
                },
            )
        return {LeaseToken(r["id"], r["run_lease"]) for r in rows}

    async def _requeue_resumed(self, rejected: list[Outcome]) -> None:
        """A park refused because the callback was resumed early: the job is
        still running with this lease and has its payload; run it again now."""
        if rejected:
            back = [attrs.evolve(o, action=HAND_BACK, event=None) for o in rejected]
            await self._write_group(back)

    def report_done(self, outcome: Outcome) -> None:
        """An outcome written elsewhere (``job.transaction()``): report it as written."""
        self._report([outcome], {outcome.token})

    def _report(self, group: list[Outcome], accepted: set[LeaseToken]) -> None:
        for outcome in group:
            token = outcome.token
            self.pending.pop(token, None)
            if token in accepted:
                self.stats.written += 1
                self.trace.emit(
                    SPEC_ACTION[outcome.action],
                    job=token.job_id,
                    lease=token.run_lease,
                    worker=self.worker,
                )
                self.signals.emit(
                    "job_finalized",
                    id=token.job_id,
                    lease=token.run_lease,
                    action=outcome.action,
                    kind=outcome.job.kind,
                    queue=outcome.job.queue,
                    duration=outcome.duration,
                )
                if outcome.event is not None:
                    self.hooks.fire(JobEvent(outcome.event, outcome.job, outcome.error))
            else:
                self.stats.stale += 1
                logger.info(
                    "stale attempt: job %s lease %s was rescued, cancelled or claimed again;"
                    " its %s was not written",
                    token.job_id,
                    token.run_lease,
                    outcome.action,
                )
                self.trace.emit(
                    "FinalizeRejected", job=token.job_id, lease=token.run_lease, worker=self.worker
                )
                self.signals.emit(
                    "job_stale",
                    id=token.job_id,
                    lease=token.run_lease,
                    action=outcome.action,
                    kind=outcome.job.kind,
                    queue=outcome.job.queue,
                )
