"""spec/core/AwaCore.tla's actions applied to the real runtime, on PostgreSQL.

A hypothesis ``RuleBasedStateMachine`` whose rules are AwaCore's actions:
Insert, Claim, Heartbeat (LeaseLost when the fence misses), the fenced
finishing writes (Complete, Retry, Snooze, Fail, HandlerCancel, HandBack;
FinalizeRejected when the fence misses), a finishing write with a stale
token, Crash (a worker process dies holding its leases), RescueStale and
RescueDeadline, AdminCancel, AdminRetry, Promote, and time passing. Each
rule calls the runtime's own code: ``Dispatcher.claim``, ``Heartbeater.beat``,
``Completer.flush`` with outcomes from ``awa._runtime.outcome``,
``Rescuer.run_once``, ``Promoter.run_once`` and the client's ``cancel`` and
``retry``; time passes through the database (``testing_shift_*``).

After every step the database is read back and must agree with the model
(tests/stateful/core_model.py) and hold the spec's invariants: NoLostJob,
RunningHasOwner, NoStaleFinalize, AtMostOneLiveAttempt, AttemptsBounded.

Hypothesis machines are synchronous: the async runtime runs in a blocking
portal, once on asyncio and once on trio. Under the default hypothesis
profile ("ci", tests/conftest.py) the runs are derandomized, so CI sees the
same examples every time; ``HYPOTHESIS_PROFILE=explore`` draws new ones and
``AWA_STATEFUL_EXAMPLES`` runs more.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from psycopg.rows import dict_row

import awa
from awa._model.job import job_from_row
from awa._model.outcomes import Cancel, Snooze
from awa._model.registry import Registry
from awa._model.runtime_config import QueueConfig
from awa._runtime.completion import Completer
from awa._runtime.db import Db
from awa._runtime.dispatcher import Dispatcher
from awa._runtime.heartbeat import Heartbeater
from awa._runtime.hooks import HookRunner
from awa._runtime.lease import InFlight, LeaseToken
from awa._runtime.maintenance.promoter import Promoter, PromoterConfig
from awa._runtime.maintenance.rescuer import Rescuer, RescuerConfig
from awa._runtime.outcome import Outcome, from_exception, from_result, hand_back
from awa._runtime.permits import FixedPermits
from awa._runtime.signals import Signals
from awa._runtime.spec_trace import SpecTrace
from awa._sql import Q
from awa.errors import InvalidStateError
from tests.stateful.core_model import (
    CLOCK_STEP,
    DEADLINE,
    DEFERRED,
    MAX_ATTEMPTS,
    SNOOZE,
    STALENESS,
    TERMINAL,
    CoreModel,
    Held,
    JobModel,
    table_of,
)

pytestmark = [pytest.mark.pg, pytest.mark.slow, pytest.mark.timeout(300)]

QUEUE = "stateful"
WORKERS = ("w1", "w2")
MAX_JOBS = 8  # per example
MAX_LIVE = 3  # not yet finished at once
MAX_CRASHES = 2
MAX_ADMIN_CALLS = 3  # per example, as AwaCore bounds re-runs (MaxFreeReruns)
# Admin calls go to the jobs they may change, and to a few they must refuse.
CANCELLABLE = frozenset({"available", "running", "scheduled", "retryable", "completed"})
RETRIABLE = frozenset({"failed", "cancelled", "scheduled", "retryable", "running"})
EXAMPLES = int(os.environ.get("AWA_STATEFUL_EXAMPLES", "100"))
STEPS = int(os.environ.get("AWA_STATEFUL_STEPS", "40"))

T = TypeVar("T")


@dataclass
class Probe:
    n: int


class Runtime:
    """The runtime's parts the rules call, living in the portal's event loop."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, url: str) -> None:
        self.portal = portal
        self.client = awa.AsyncClient(url, max_connections=2)
        self.db = Db(self.client._pool)
        self.signals = Signals()
        self.trace = SpecTrace(None)
        hooks = HookRunner(Registry())
        self.completers = {
            w: Completer(
                self.db,
                batch_size=1,
                keep_completed=True,
                hooks=hooks,
                signals=self.signals,
                trace=self.trace,
                worker=w,
            )
            for w in WORKERS
        }
        self.rescuer = Rescuer(
            self.db,
            RescuerConfig(staleness=STALENESS),
            inflight=InFlight(),
            hooks=hooks,
            signals=self.signals,
            trace=self.trace,
        )
        self.promoter = Promoter(
            self.db, PromoterConfig(), listener=None, signals=self.signals, trace=self.trace
        )
        queue = QueueConfig(name=QUEUE, deadline=DEADLINE)
        self.dispatchers = {
            w: Dispatcher(
                queue,
                db=self.db,
                runner=None,  # type: ignore[arg-type]  # claim() starts no job
                listener=None,
                jobs=None,  # type: ignore[arg-type]
                permits=FixedPermits(1),
                limiter=None,
                signals=self.signals,
                trace=self.trace,
                worker=w,
            )
            for w in WORKERS
        }

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.portal.call(fn, *args)

    def beat(self, worker: str, token: LeaseToken) -> int:
        heart = Heartbeater(
            self.db,
            InFlight(),
            interval=1.0,
            signals=self.signals,
            trace=self.trace,
            worker=worker,
            queued=lambda: [token],
        )
        return int(self.call(heart.beat).alive)

    def close(self) -> None:
        self.call(self.client.close)


TABLES_QUERY = " UNION ALL ".join(
    f"SELECT '{table}' AS table, id, state::text AS state, run_lease, attempt, max_attempts"
    f" FROM awa.{table}"
    for table in ("jobs_hot", "scheduled_jobs", "jobs_terminal")
)


def read_tables(conn: psycopg.Connection[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Every job row, by id, with the table it is in (one round trip)."""
    found: dict[int, list[dict[str, Any]]] = {}
    for row in conn.execute(TABLES_QUERY):
        found.setdefault(row["id"], []).append(row)
    return found


def build_machine(
    rt: Runtime, conn: psycopg.Connection[dict[str, Any]], seen: Counter[str]
) -> type:
    class CoreMachine(RuleBasedStateMachine):
        """AwaCore's Next, one rule per action, on the real implementation."""

        def __init__(self) -> None:
            super().__init__()
            rt.call(rt.db.exec, Q["testing_clean"])
            seen["examples"] += 1
            self.model = CoreModel()
            self.incarnation = dict.fromkeys(WORKERS, 1)
            self.crashes = 0
            self.admin_calls = 0

        def _live(self) -> int:
            return sum(j.state not in TERMINAL for j in self.model.jobs.values())

        def worker_name(self, w: str) -> str:
            return f"{w}#{self.incarnation[w]}"

        # ------------------------------------------------------------ producer

        @initialize(count=st.integers(1, MAX_LIVE))
        def start_with_available_jobs(self, count: int) -> None:
            """Every example starts with work to claim (AwaCore!Insert)."""
            for _ in range(count):
                self._insert(later=False, max_attempts=MAX_ATTEMPTS)

        @precondition(lambda self: len(self.model.jobs) < MAX_JOBS and self._live() < MAX_LIVE)
        @rule(later=st.booleans(), max_attempts=st.integers(1, MAX_ATTEMPTS))
        def insert(self, later: bool, max_attempts: int) -> None:
            """AwaCore!Insert (available now, or scheduled CLOCK_STEP ahead)."""
            self._insert(later, max_attempts)

        def _insert(self, later: bool, max_attempts: int) -> None:
            run_at = timedelta(seconds=CLOCK_STEP) if later else None
            job = rt.call(_insert, rt.client, run_at, max_attempts)
            state = "scheduled" if later else "available"
            assert job.state.value == state
            self.model.jobs[job.id] = JobModel(
                job.id, state, max_attempts, due_in=CLOCK_STEP if later else None
            )

        # ------------------------------------------------------------ workers

        @rule(w=st.sampled_from(WORKERS))
        def claim(self, w: str) -> None:
            """AwaCore!Claim through Dispatcher.claim."""
            dispatcher = rt.dispatchers[w]
            dispatcher.worker = self.worker_name(w)
            rows = rt.call(dispatcher.claim, 1)
            available = {j.id for j in self.model.jobs.values() if j.state == "available"}
            if not available:
                assert rows == []
                return
            assert len(rows) == 1, f"{available} available, nothing claimed"
            seen["claim"] += 1
            row = rows[0]
            job = self.model.jobs[row["id"]]
            assert job.id in available
            job.state, job.lease, job.attempt = "running", job.lease + 1, job.attempt + 1
            job.hb_age = job.run_age = 0.0
            assert (row["run_lease"], row["attempt"]) == (job.lease, job.attempt)
            self.model.held.add(Held(job.id, job.lease, self.worker_name(w), "exec"))
            self.model.rows[(job.id, job.lease)] = row
            self.model.issued.add((job.id, job.lease))

        @precondition(lambda self: self.model.exec_held())
        @rule(data=st.data())
        def heartbeat(self, data: st.DataObject) -> None:
            """AwaCore!Heartbeat, or AwaCore!LeaseLost when the fence misses."""
            held = data.draw(st.sampled_from(self.model.exec_held()), label="attempt")
            current = self.model.holds(held.job, held.lease)
            alive = rt.beat(held.worker, LeaseToken(held.job, held.lease))
            assert alive == (1 if current else 0)
            seen["Heartbeat" if current else "LeaseLost"] += 1
            if current:
                self.model.jobs[held.job].hb_age = 0.0
            else:
                self.model.held.discard(held)  # the worker cancels the handler

        # The handler returns: one rule per finishing write. Each is
        # FinalizeRejected instead when the attempt's fence no longer matches.

        def _finish(self, data: st.DataObject, outcome: str) -> None:
            held = data.draw(st.sampled_from(self.model.exec_held()), label="attempt")
            self.model.held.discard(held)
            self._write(held.worker.split("#")[0], held.job, held.lease, outcome)

        @precondition(lambda self: self.model.exec_held())
        @rule(data=st.data())
        def complete(self, data: st.DataObject) -> None:
            """AwaCore!Complete: the handler returned."""
            self._finish(data, "complete")

        @precondition(lambda self: self.model.exec_held())
        @rule(data=st.data())
        def retry_or_fail(self, data: st.DataObject) -> None:
            """AwaCore!Retry, or AwaCore!Fail once attempts are used up: the handler raised."""
            self._finish(data, "error")

        @precondition(lambda self: self.model.exec_held())
        @rule(data=st.data())
        def snooze(self, data: st.DataObject) -> None:
            """AwaCore!Snooze: the handler returned Snooze."""
            self._finish(data, "snooze")

        @precondition(lambda self: self.model.exec_held())
        @rule(data=st.data())
        def handler_cancel(self, data: st.DataObject) -> None:
            """AwaCore!HandlerCancel: the handler returned Cancel."""
            self._finish(data, "cancel")

        @precondition(lambda self: self.model.exec_held())
        @rule(data=st.data())
        def hand_back(self, data: st.DataObject) -> None:
            """AwaCore!HandBack: shutdown gave the job back."""
            self._finish(data, "hand_back")

        @precondition(lambda self: self._stale_tokens())
        @rule(data=st.data(), outcome=st.sampled_from(["complete", "error", "hand_back"]))
        def finish_with_stale_lease(self, data: st.DataObject, outcome: str) -> None:
            """A finishing write carrying a token that is no longer current (a
            process that was paused, not killed): the fence must refuse it."""
            job, lease = data.draw(st.sampled_from(self._stale_tokens()), label="token")
            self._write(data.draw(st.sampled_from(WORKERS)), job, lease, outcome)

        @precondition(lambda self: self._stale_tokens(rerunning=True))
        @rule(data=st.data(), outcome=st.sampled_from(["complete", "error", "hand_back"]))
        def finish_with_stale_lease_while_rerunning(
            self, data: st.DataObject, outcome: str
        ) -> None:
            """The dangerous case of the above (NoStaleFinalize): the job runs
            again under a newer lease when the old attempt's write arrives."""
            token = data.draw(st.sampled_from(self._stale_tokens(rerunning=True)), label="token")
            seen["stale_while_rerunning"] += 1
            self._write(data.draw(st.sampled_from(WORKERS)), *token, outcome)

        def _stale_tokens(self, rerunning: bool = False) -> list[tuple[int, int]]:
            return sorted(
                (job, lease)
                for job, lease in self.model.issued
                if not self.model.holds(job, lease)
                and (not rerunning or self.model.jobs[job].state == "running")
            )

        def _write(self, w: str, job_id: int, lease: int, outcome: str) -> None:
            token = LeaseToken(job_id, lease)
            job = job_from_row(self.model.rows[(job_id, lease)])
            made: Outcome
            if outcome == "error":
                made = from_exception(RuntimeError("boom"), job, token, None)
            elif outcome == "snooze":
                made = from_result(Snooze(SNOOZE), job, token, None)
            elif outcome == "cancel":
                made = from_result(Cancel("stop"), job, token, None)
            elif outcome == "hand_back":
                made = hand_back(job, token, None)
            else:
                made = from_result(None, job, token, None)
            completer = rt.completers[w]
            before = completer.stats.written
            current = self.model.holds(job_id, lease)
            rt.call(completer.flush, [made])
            accepted = completer.stats.written > before
            m = self.model.jobs[job_id]
            if accepted and (m.state, m.lease) != ("running", lease):
                self.model.stale_accepted.append((job_id, lease, m.lease))
            assert accepted == current, f"fenced write of {token}: accepted={accepted}"
            seen[f"{made.action}:{'accepted' if accepted else 'rejected'}"] += 1
            if not accepted:
                return
            m.due_in = None
            if made.action == "complete":
                m.state = "completed"
            elif made.action == "retry":
                m.state = self.model.after_failure(m)
            elif made.action == "fail":
                m.state = "failed"
            elif made.action == "cancel":
                m.state = "cancelled"
            elif made.action == "snooze":
                m.state, m.attempt, m.due_in = "scheduled", max(m.attempt - 1, 0), SNOOZE
            else:
                assert made.action == "hand_back"
                m.state, m.attempt = "available", max(m.attempt - 1, 0)
            self.model.drop_crashed(job_id)

        @precondition(lambda self: self.crashes < MAX_CRASHES and self.model.exec_held())
        @rule(data=st.data())
        def crash(self, data: st.DataObject) -> None:
            """AwaCore!Crash then AwaCore!Restart: the process dies with its
            leases (nothing is written); a new process takes its place."""
            held = data.draw(st.sampled_from(self.model.exec_held()), label="victim")
            name = held.worker
            w = name.split("#")[0]
            self.crashes += 1
            self.model.held = {
                Held(h.job, h.lease, h.worker, "crashed") if h.worker == name else h
                for h in self.model.held
            }
            self.incarnation[w] += 1
            seen["crash"] += 1

        # ------------------------------------------------------------ maintenance

        @rule()
        def rescue(self) -> None:
            """AwaCore!RescueStale and AwaCore!RescueDeadline via Rescuer.run_once."""
            due = self.model.rescue_due()
            before = len(rt.signals.seen("job_rescued"))
            rt.call(rt.rescuer.run_once)
            rescued = {d["id"]: d for d in rt.signals.seen("job_rescued")[before:]}
            assert set(rescued) == set(due)
            seen.update(f"rescue:{reason}" for reason in due.values())
            for job_id, reason in due.items():
                m = self.model.jobs[job_id]
                m.state, m.due_in = self.model.after_failure(m), None
                assert rescued[job_id]["reason"] == reason
                assert rescued[job_id]["state"] == m.state
                assert rescued[job_id]["lease"] == m.lease  # rescue keeps run_lease
                self.model.drop_crashed(job_id)

        @rule()
        def promote(self) -> None:
            """AwaCore!Promote via Promoter.run_once: exactly the due jobs move."""
            due_before = {
                r["id"]
                for r in conn.execute("SELECT id FROM awa.scheduled_jobs WHERE run_at <= now()")
            }
            result = rt.call(rt.promoter.run_once)
            now_hot = {r["id"] for r in conn.execute("SELECT id FROM awa.jobs_hot")}
            promoted = {
                j.id for j in self.model.jobs.values() if j.state in DEFERRED and j.id in now_hot
            }
            assert due_before <= promoted
            assert result.promoted == len(promoted)
            seen["promote"] += len(promoted)
            for job_id in promoted:
                m = self.model.jobs[job_id]
                assert m.due is not False, f"job {job_id} promoted {-(m.due_in or 0)}s early"
                m.state, m.due_in = "available", None
            for m in self.model.jobs.values():
                assert not (m.state in DEFERRED and m.due), f"due job {m.id} not promoted"

        @rule(steps=st.sampled_from([1, 2, 3]))
        def pass_time(self, steps: int) -> None:
            """Time passes (AwaCore!HeartbeatMissed once a heartbeat is old enough)."""
            seconds = steps * CLOCK_STEP
            rt.call(rt.db.exec, Q["testing_shift_scheduled"], {"seconds": seconds})
            rt.call(rt.db.exec, Q["testing_shift_running"], {"seconds": seconds})
            self.model.pass_time(seconds)

        # ------------------------------------------------------------ admin

        def _in(self, states: frozenset[str]) -> list[int]:
            return sorted(j.id for j in self.model.jobs.values() if j.state in states)

        @precondition(lambda self: self.admin_calls < MAX_ADMIN_CALLS and self._in(CANCELLABLE))
        @rule(data=st.data())
        def admin_cancel(self, data: st.DataObject) -> None:
            """AwaCore!AdminCancel through AsyncClient.cancel."""
            m = self.model.jobs[data.draw(st.sampled_from(self._in(CANCELLABLE)))]
            self.admin_calls += 1
            if m.state in ("completed", "failed"):
                with pytest.raises(InvalidStateError):
                    rt.call(_cancel, rt.client, m.id)
                seen[f"cancel:{m.state}"] += 1
                return
            job = rt.call(_cancel, rt.client, m.id)
            assert job.state.value == "cancelled"
            seen[f"cancel:{m.state}"] += 1
            m.state, m.due_in = "cancelled", None
            self.model.drop_crashed(m.id)

        @precondition(lambda self: self.admin_calls < MAX_ADMIN_CALLS and self._in(RETRIABLE))
        @rule(data=st.data())
        def admin_retry(self, data: st.DataObject) -> None:
            """AwaCore!AdminRetry through AsyncClient.retry."""
            m = self.model.jobs[data.draw(st.sampled_from(self._in(RETRIABLE)))]
            self.admin_calls += 1
            if m.state in ("running", "completed"):
                with pytest.raises(InvalidStateError):
                    rt.call(rt.client.retry, m.id)
                seen[f"retry:{m.state}"] += 1
                return
            job = rt.call(rt.client.retry, m.id)
            assert job.state.value == "available"
            seen[f"admin_retry:{m.state}"] += 1
            m.state, m.attempt, m.due_in = "available", 0, None

        # ------------------------------------------------------------ invariants

        @invariant()
        def database_agrees_with_the_model(self) -> None:
            seen["steps"] += 1
            tables = read_tables(conn)
            # NoLostJob: each inserted job is in exactly one table, its state's.
            assert set(tables) == set(self.model.jobs)
            for job_id, rows in tables.items():
                assert len(rows) == 1, f"job {job_id} in {[r['table'] for r in rows]}"
                row, m = rows[0], self.model.jobs[job_id]
                assert row["table"] == table_of(row["state"])
                assert (row["state"], row["run_lease"], row["attempt"]) == (
                    m.state,
                    m.lease,
                    m.attempt,
                ), f"job {job_id}"
                # AttemptsBounded
                if row["state"] == "running":
                    assert row["attempt"] <= row["max_attempts"] == m.max_attempts
                # RunningHasOwner / AtMostOneLiveAttempt
                holders = [h for h in self.model.held if h.job == job_id and h.lease == m.lease]
                if row["state"] == "running":
                    assert len(holders) == 1, f"running job {job_id} held by {holders}"
                assert sum(h.phase == "exec" for h in holders) <= 1

        @invariant()
        def no_stale_finalize(self) -> None:
            assert self.model.stale_accepted == []

    return CoreMachine


async def _insert(client: awa.AsyncClient, run_at: Any, max_attempts: int) -> awa.Job:
    return await client.insert(Probe(1), queue=QUEUE, max_attempts=max_attempts, run_at=run_at)


async def _cancel(client: awa.AsyncClient, job_id: int) -> awa.Job:
    return await client.cancel(job_id)


@pytest.fixture(params=["asyncio", "trio"])
def runtime(request: pytest.FixtureRequest, database_url: str) -> Iterator[Runtime]:
    with anyio.from_thread.start_blocking_portal(request.param) as portal:
        rt = portal.call(lambda: _make(portal, database_url))
        try:
            yield rt
        finally:
            rt.close()


def _make(portal: anyio.from_thread.BlockingPortal, url: str) -> Runtime:
    return Runtime(portal, url)


def test_core_actions_keep_the_spec_invariants(runtime: Runtime, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        seen: Counter[str] = Counter()
        machine = build_machine(runtime, conn, seen)
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,  # derandomize and database come from the profile (conftest)
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    print(dict(sorted(seen.items())))
    # The examples reached the essential kinds of step (the counts are
    # printed with -s): claims, heartbeats, crashes, rescues, promotion, and
    # finishing writes the fence accepted and ones it refused.
    kinds = {k.split(":")[-1] if k.endswith(("accepted", "rejected")) else k for k in seen}
    kinds |= {"rescue"} if any(k.startswith("rescue:") for k in seen) else set()
    wanted = {"claim", "Heartbeat", "crash", "promote", "rescue", "accepted", "rejected"}
    assert wanted <= kinds, f"never exercised: {sorted(wanted - kinds)}"
