"""Jobs parked for an external system: register, park, resolve, time out.

Each test runs a real worker on both backends. Tokens travel from the
handler to the test through a dict and an event (both in the same loop).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

import awa
from awa import JobState
from tests.runtime_helpers import fast, wait_finalized, wait_signal

pytestmark = pytest.mark.pg


@dataclass
class Parcel:
    n: int


class Tokens:
    """Callback tokens the handlers registered, by job id."""

    def __init__(self) -> None:
        self.by_job: dict[int, list[awa.CallbackToken]] = {}
        self._changed = anyio.Event()

    def add(self, token: awa.CallbackToken) -> None:
        self.by_job.setdefault(token.job_id, []).append(token)
        self._changed.set()
        self._changed = anyio.Event()

    async def get(self, job_id: int, count: int = 1) -> awa.CallbackToken:
        with anyio.fail_after(20):
            while len(self.by_job.get(job_id, [])) < count:
                await self._changed.wait()
        return self.by_job[job_id][count - 1]


def parking_worker(client: awa.AsyncClient, tokens: Tokens, **register: Any) -> None:
    register.setdefault("timeout_seconds", 600)

    @client.worker(Parcel)
    async def handle(job: awa.JobContext) -> Any:
        if job.callback_result is not None:
            return None  # resumed after parking: done
        token = await job.register_callback(**register)
        tokens.add(token)
        return awa.WaitForCallback(token)


async def park(client: awa.AsyncClient, tokens: Tokens, **insert: Any) -> awa.CallbackToken:
    job = await client.insert(Parcel(1), **insert)
    parked = await client.wait_for(job.id, timeout=20)
    assert parked.state == JobState.WAITING_EXTERNAL
    return await tokens.get(job.id)


def start(client: awa.AsyncClient, workers: int = 2, **changes: Any) -> None:
    client.start([("default", workers)], **fast(**changes))


async def test_parked_job_releases_its_slot_and_completes_externally(client) -> None:
    tokens = Tokens()
    parking_worker(client, tokens)
    async with client:
        start(client, workers=1)
        first = await park(client, tokens)
        second = await park(client, tokens)  # the one slot was freed by the first park
        parked = await client.get_job(first.job_id)
        assert parked.callback_id == first.id
        assert parked.heartbeat_at is None
        done = await client.complete_external(first.id, {"receipt": 42})
        assert done.state == JobState.COMPLETED
        assert done.metadata["awa:callback_payload"] == {"receipt": 42}
        with pytest.raises(awa.CallbackNotFound):
            await client.complete_external(first.id)
        failed = await client.fail_external(str(second.id), "card declined")
        assert failed.state == JobState.FAILED
        assert failed.errors[-1]["message"] == "card declined"
        assert failed.callback_id is None
        with pytest.raises(awa.CallbackNotFound):
            await client.fail_external(second.id, "again")


async def test_unknown_and_malformed_callback_ids(client) -> None:
    tokens = Tokens()
    parking_worker(client, tokens)
    async with client:
        start(client)
        token = await park(client, tokens)
        with pytest.raises(awa.CallbackNotFound):
            await client.complete_external(uuid.uuid4())
        for bad in ("not-a-uuid", 17, None, ""):
            with pytest.raises(awa.ValidationError):
                await client.complete_external(bad)
        with pytest.raises(awa.ValidationError):
            await client.fail_external(token.id, "")
        with pytest.raises(awa.ValidationError):
            await client.heartbeat_callback(token.id, -1)
        with pytest.raises(awa.ValidationError):
            await client.resolve_callback(token.id, {}, default_action="explode")
        with pytest.raises(awa.ValidationError):
            await client.complete_external(token.id, {"x": object()})
        unchanged = await client.get_job(token.job_id)
        assert unchanged.state == JobState.WAITING_EXTERNAL
        assert unchanged.callback_id == token.id


async def test_retry_external_runs_the_job_again(client) -> None:
    tokens = Tokens()
    runs: list[int] = []

    @client.worker(Parcel)
    async def handle(job: awa.JobContext) -> Any:
        runs.append(job.attempt)
        if len(runs) == 1:
            token = await job.register_callback(timeout_seconds=600)
            tokens.add(token)
            return awa.WaitForCallback(token)
        return None

    async with client:
        start(client)
        token = await park(client, tokens)
        retried = await client.retry_external(token.id)
        assert retried.state in (JobState.RETRYABLE, JobState.AVAILABLE)
        await wait_finalized(client, token.job_id, "complete")
        with pytest.raises(awa.CallbackNotFound):
            await client.retry_external(token.id)
    assert runs == [1, 2]


async def test_callback_timeout_retries_then_fails_when_attempts_are_used(client) -> None:
    tokens = Tokens()
    parking_worker(client, tokens, timeout_seconds=0.2)
    async with client:
        start(client)
        token = await park(client, tokens, max_attempts=1)
        await wait_signal(client, "callback_timed_out", id=token.job_id)
        failed = await client.get_job(token.job_id)
        assert failed.state == JobState.FAILED
        assert failed.errors[-1]["type"] == "CallbackTimeout"
        with pytest.raises(awa.CallbackNotFound):
            await client.complete_external(token.id)

        again = await park(client, tokens, max_attempts=3)
        await wait_signal(client, "callback_timed_out", id=again.job_id)
        retryable = await client.get_job(again.job_id)
        assert retryable.state == JobState.RETRYABLE
        assert retryable.run_at > retryable.finalized_at  # type: ignore[operator]


async def test_heartbeat_callback_pushes_the_timeout_out(client) -> None:
    tokens = Tokens()
    parking_worker(client, tokens, timeout_seconds=60)
    async with client:
        start(client)
        token = await park(client, tokens)
        before = (await client.get_job(token.job_id)).callback_timeout_at
        beaten = await client.heartbeat_callback(token.id, 7200)
        assert beaten.callback_timeout_at is not None
        assert before is not None
        assert (beaten.callback_timeout_at - before).total_seconds() > 7000


async def test_admin_cancel_and_retry_make_the_callback_stale(client) -> None:
    tokens = Tokens()
    parking_worker(client, tokens)
    async with client:
        start(client)
        cancelled = await park(client, tokens)
        assert (await client.cancel(cancelled.job_id)).state == JobState.CANCELLED
        with pytest.raises(awa.CallbackNotFound):
            await client.complete_external(cancelled.id)

        retried = await park(client, tokens)
        await client.pause_queue("default")
        assert (await client.retry(retried.job_id)).state == JobState.AVAILABLE
        with pytest.raises(awa.CallbackNotFound):
            await client.resume_external(retried.id, {})
        assert (await client.get_job(retried.job_id)).state == JobState.AVAILABLE


async def test_drain_cancels_waiting_jobs(client) -> None:
    tokens = Tokens()
    parking_worker(client, tokens)
    async with client:
        start(client)
        token = await park(client, tokens)
        assert await client.drain_queue("default") == 1
        assert (await client.get_job(token.job_id)).state == JobState.CANCELLED


async def test_early_completion_while_the_handler_still_runs(client) -> None:
    tokens = Tokens()
    answered = anyio.Event()

    ended = anyio.Event()

    @client.worker(Parcel)
    async def handle(job: awa.JobContext) -> Any:
        try:
            token = await job.register_callback(timeout_seconds=600)
            tokens.add(token)
            await answered.wait()  # the external system answers before we park
            return awa.WaitForCallback(token)
        finally:
            ended.set()

    async with client:
        start(client)
        job = await client.insert(Parcel(1))
        token = await tokens.get(job.id)
        done = await client.complete_external(token.id, {"early": True})
        assert done.state == JobState.COMPLETED
        answered.set()
        # The handler is told to stop (NOTIFY) or its park is refused: either way it ends.
        with anyio.fail_after(20):
            await ended.wait()
        assert (await client.get_job(job.id)).state == JobState.COMPLETED


async def test_early_resume_runs_the_job_again_with_the_payload(client) -> None:
    tokens = Tokens()
    answered = anyio.Event()
    results: list[Any] = []

    @client.worker(Parcel)
    async def handle(job: awa.JobContext) -> Any:
        if job.callback_result is not None:
            results.append((job.attempt, job.callback_result))
            return None
        token = await job.register_callback(timeout_seconds=600)
        tokens.add(token)
        await answered.wait()
        return awa.WaitForCallback(token)

    async with client:
        start(client)
        job = await client.insert(Parcel(1))
        token = await tokens.get(job.id)
        resumed = await client.resume_external(token.id, {"early": "resume"})
        assert resumed.state == JobState.RUNNING
        answered.set()
        await wait_finalized(client, job.id, "complete")
    assert results == [(1, {"early": "resume"})]


async def test_resume_of_a_parked_job_runs_it_again_in_the_same_attempt(client) -> None:
    tokens = Tokens()
    results: list[Any] = []

    @client.worker(Parcel)
    async def handle(job: awa.JobContext) -> Any:
        if job.callback_result is not None:
            results.append((job.attempt, job.callback_result))
            return None
        token = await job.register_callback(timeout_seconds=600)
        tokens.add(token)
        return awa.WaitForCallback(token)

    async with client:
        start(client)
        token = await park(client, tokens)
        await client.resume_external(token.id, {"approved": True})
        await wait_finalized(client, token.job_id, "complete")
        with pytest.raises(awa.CallbackNotFound):
            await client.resume_external(token.id, {"approved": True})
    assert results == [(1, {"approved": True})]


async def test_callback_of_a_rescued_attempt_is_rejected(client, db) -> None:
    tokens = Tokens()
    ended = anyio.Event()

    @client.worker(Parcel)
    async def handle(job: awa.JobContext) -> Any:
        try:
            tokens.add(await job.register_callback(timeout_seconds=600))
            await anyio.sleep_forever()
        finally:
            ended.set()

    async with client:
        start(client)
        job = await client.insert(Parcel(1), max_attempts=1)
        token = await tokens.get(job.id)
        # The attempt overran its hard deadline: the rescuer takes the job.
        db.execute("UPDATE awa.jobs_hot SET deadline_at = now() - interval '1 second'")
        await wait_signal(client, "rescued")
        with pytest.raises(awa.CallbackNotFound):
            await client.complete_external(token.id)
        with pytest.raises(awa.CallbackNotFound):
            await client.resolve_callback(token.id, {}, default_action="complete")
        with anyio.fail_after(20):
            await ended.wait()  # the runtime learnt the lease is gone and stopped it
        assert (await client.get_job(job.id)).state == JobState.FAILED


async def test_concurrent_resolutions_exactly_one_wins(client) -> None:
    tokens = Tokens()
    parking_worker(client, tokens)
    async with client:
        start(client)
        for round_ in range(3):
            token = await park(client, tokens)
            outcomes: list[str] = []

            async def resolve(
                i: int, token: awa.CallbackToken = token, outcomes: list[str] = outcomes
            ) -> None:
                try:
                    match i % 4:
                        case 0:
                            await client.complete_external(token.id, {"by": i})
                        case 1:
                            await client.fail_external(token.id, f"by {i}")
                        case 2:
                            await client.resolve_callback(token.id, {}, default_action="complete")
                        case _:
                            await client.resume_external(token.id, {"by": i})
                    outcomes.append("won")
                except awa.CallbackNotFound:
                    outcomes.append("lost")

            async with anyio.create_task_group() as tg:
                for i in range(8):
                    tg.start_soon(resolve, i + round_)
            assert sorted(outcomes) == ["lost"] * 7 + ["won"]


async def test_cel_rules_decide_the_resolution(client) -> None:
    tokens = Tokens()
    parking_worker(
        client,
        tokens,
        filter='payload.kind == "payment"',
        on_fail='payload.status == "declined"',
        on_complete='payload.status == "paid"',
        transform='{"amount": payload.amount * 100}',
    )
    async with client:
        start(client)
        token = await park(client, tokens)
        ignored = await client.resolve_callback(token.id, {"kind": "ping"}, "complete")
        assert ignored.outcome == "ignored"
        assert ignored.job is None
        pending = await client.resolve_callback(token.id, {"kind": "payment", "status": "pending"})
        assert pending.outcome == "ignored"
        assert (await client.get_job(token.job_id)).state == JobState.WAITING_EXTERNAL

        paid = await client.resolve_callback(
            token.id, {"kind": "payment", "status": "paid", "amount": 12}
        )
        assert paid.outcome == "completed"
        assert paid.payload == {"amount": 1200}
        assert paid.job is not None
        assert paid.job.state == JobState.COMPLETED
        assert paid.job.metadata["awa:callback_payload"] == {"amount": 1200}
        with pytest.raises(awa.CallbackNotFound):
            await client.resolve_callback(token.id, {"kind": "payment", "status": "paid"})

        declined = await park(client, tokens)
        result = await client.resolve_callback(
            declined.id, {"kind": "payment", "status": "declined", "amount": 1}, "complete"
        )
        assert result.outcome == "failed"
        assert result.job is not None
        assert result.job.errors[-1]["expression"] == 'payload.status == "declined"'


async def test_bad_expressions_are_refused_at_registration(client) -> None:
    refused: list[BaseException] = []

    @client.worker(Parcel)
    async def handle(job: awa.JobContext) -> Any:
        for rules in (
            {"filter": "payload.x =="},
            {"on_complete": "job.id > 1"},  # only `payload` is visible
            {"transform": 42},
            {"timeout_seconds": 0},
        ):
            try:
                await job.register_callback(**rules)  # type: ignore[arg-type]
            except awa.ValidationError as exc:
                refused.append(exc)
        return None

    async with client:
        start(client)
        job = await client.insert(Parcel(1))
        await wait_finalized(client, job.id, "complete")
        assert len(refused) == 4
        assert (await client.get_job(job.id)).callback_id is None


async def test_sequential_waits_in_one_handler(client) -> None:
    tokens = Tokens()
    got: list[Any] = []

    @client.worker(Parcel)
    async def handle(job: awa.JobContext) -> Any:
        for _ in range(2):
            token = await job.register_callback(timeout_seconds=600)
            tokens.add(token)
            got.append(await job.wait_for_callback(token))
        return None

    async with client:
        # With LISTEN the wait re-checks only every 30 s: NOTIFY wakes it.
        start(client)
        job = await client.insert(Parcel(1))
        first = await tokens.get(job.id, 1)
        assert (await client.get_job(job.id)).state == JobState.RUNNING
        await client.resume_external(first.id, {"step": 1})
        second = await tokens.get(job.id, 2)
        assert second.id != first.id
        with pytest.raises(awa.CallbackNotFound):
            await client.resume_external(first.id, {"step": "stale"})
        await client.resume_external(second.id, {"step": 2})
        await wait_finalized(client, job.id, "complete")
    assert got == [{"step": 1}, {"step": 2}]


async def test_in_handler_wait_ends_with_the_callback_timeout(client) -> None:
    tokens = Tokens()
    raised: list[BaseException] = []

    @client.worker(Parcel)
    async def handle(job: awa.JobContext) -> Any:
        token = await job.register_callback(timeout_seconds=0.3)
        tokens.add(token)
        try:
            await job.wait_for_callback(token)
        except awa.CallbackTimeout as exc:
            raised.append(exc)
            raise

    async with client:
        start(client)
        job = await client.insert(Parcel(1), max_attempts=2)
        await wait_finalized(client, job.id, "retry")
        assert isinstance(raised[0], TimeoutError)
        assert (await client.get_job(job.id)).state == JobState.RETRYABLE


async def test_in_handler_wait_learns_of_external_completion(client) -> None:
    tokens = Tokens()
    ended = anyio.Event()
    returned: list[Any] = []

    @client.worker(Parcel)
    async def handle(job: awa.JobContext) -> Any:
        token = await job.register_callback(timeout_seconds=600)
        tokens.add(token)
        try:
            returned.append(await job.wait_for_callback(token))
        finally:
            ended.set()

    async with client:
        start(client)
        job = await client.insert(Parcel(1))
        token = await tokens.get(job.id)
        await client.complete_external(token.id, {"done": "outside"})
        # Cancelled by the completion's NOTIFY, or LeaseLost from the wait.
        with anyio.fail_after(20):
            await ended.wait()
        assert returned == []
        assert (await client.get_job(job.id)).state == JobState.COMPLETED


async def test_plain_def_handler_parks_and_waits(client) -> None:
    tokens: dict[int, list[awa.CallbackToken]] = {}

    @client.worker(Parcel)
    def handle(job: awa.JobContext) -> Any:
        token = job.register_callback_sync(timeout_seconds=600)
        tokens.setdefault(job.id, []).append(token)
        if job.args.n == 1:
            return awa.WaitForCallback(token)
        return job.wait_for_callback_sync(token, timeout=20)

    async with client:
        start(client)
        parked = await client.insert(Parcel(1))
        assert (await client.wait_for(parked.id, timeout=20)).state == JobState.WAITING_EXTERNAL
        waiting = await client.insert(Parcel(2))
        while waiting.id not in tokens:
            await wait_signal(client, "heartbeat")
        await client.resume_external(tokens[waiting.id][0].id, {"ok": 1})
        assert (await client.wait_for(waiting.id, timeout=20)).state == JobState.COMPLETED
        await client.complete_external(tokens[parked.id][0].id)
        assert (await client.wait_for(parked.id, timeout=20)).state == JobState.COMPLETED
