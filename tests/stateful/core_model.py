"""A Python copy of spec/core/AwaCore.tla's state, for the stateful tests.

The hypothesis machine (test_core_machine.py) applies each action to the real
runtime on PostgreSQL and to this model; after every step the database must
agree with the model and satisfy the spec's invariants. The model keeps the
spec's variables (state, lease, attempt, the attempts workers hold) plus the
virtual time the test let pass, which decides what the rescuer and the
promoter must do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HOT = frozenset({"available", "running", "waiting_external"})
DEFERRED = frozenset({"scheduled", "retryable"})
TERMINAL = frozenset({"completed", "failed", "cancelled"})

# Virtual seconds. The clock moves in steps of CLOCK_STEP; the thresholds lie
# half a step away from any reachable age, so the milliseconds the test
# itself takes can never decide an outcome.
CLOCK_STEP = 30.0
STALENESS = 45.0  # a heartbeat older than this is stale
DEADLINE = 75.0  # a run older than this passed its deadline
SNOOZE = 30.0
MAX_ATTEMPTS = 2


def table_of(state: str) -> str:
    if state in HOT:
        return "jobs_hot"
    if state in DEFERRED:
        return "scheduled_jobs"
    return "jobs_terminal"


@dataclass
class JobModel:
    id: int
    state: str
    max_attempts: int = MAX_ATTEMPTS
    lease: int = 0
    attempt: int = 0
    hb_age: float = 0.0  # since the last heartbeat (running jobs)
    run_age: float = 0.0  # since the claim (running jobs)
    due_in: float | None = None  # deferred jobs; None = the backoff decides

    @property
    def due(self) -> bool | None:
        return None if self.due_in is None else self.due_in <= 0


@dataclass(frozen=True)
class Held:
    """A lease token a worker holds: AwaCore's attempts (phase exec or crashed)."""

    job: int
    lease: int
    worker: str
    phase: str  # "exec" | "crashed"


@dataclass
class CoreModel:
    jobs: dict[int, JobModel] = field(default_factory=dict)
    held: set[Held] = field(default_factory=set)
    rows: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)  # claim rows
    issued: set[tuple[int, int]] = field(default_factory=set)  # every token ever claimed
    stale_accepted: list[tuple[int, int, int]] = field(default_factory=list)  # ghost

    def holds(self, job: int, lease: int) -> bool:
        """The fence (id, run_lease = token, state = 'running') matches."""
        j = self.jobs[job]
        return j.state == "running" and j.lease == lease

    def exec_held(self) -> list[Held]:
        return sorted(
            (h for h in self.held if h.phase == "exec"), key=lambda h: (h.job, h.lease, h.worker)
        )

    def drop_crashed(self, job: int) -> None:
        self.held = {h for h in self.held if not (h.job == job and h.phase == "crashed")}

    def after_failure(self, job: JobModel) -> str:
        return "failed" if job.attempt >= job.max_attempts else "retryable"

    def pass_time(self, seconds: float) -> None:
        for j in self.jobs.values():
            if j.state == "running":
                j.hb_age += seconds
                j.run_age += seconds
            elif j.state in DEFERRED and j.due_in is not None:
                j.due_in -= seconds

    def rescue_due(self) -> dict[int, str]:
        """Running jobs the rescuer must take, with the reason."""
        due: dict[int, str] = {}
        for j in self.jobs.values():
            if j.state != "running":
                continue
            if j.run_age > DEADLINE:
                due[j.id] = "deadline"
            elif j.hb_age > STALENESS:
                due[j.id] = "heartbeat"
        return due
