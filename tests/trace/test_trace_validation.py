"""Trace validation: real worker processes record a spec trace, TLC checks it.

Each scenario runs ``awa worker`` processes with ``$AWA_SPEC_TRACE`` set (and
the test's own admin calls too), then ``tools/trace_check.py`` turns the
NDJSON trace into a TLA+ module and TLC confirms that it is a behaviour of
``spec/core/AwaCore.tla`` (``spec/trace/TraceAwaCore.tla``). Scenarios: a
normal run, a retry, snooze/fail/handler cancel, SIGKILL and rescue, a
paused (SIGSTOP) worker finishing late, shutdown with hand-back, admin
cancel. Corrupted traces (a completion with a stale lease, a claim left out,
two steps swapped, a late write accepted) must be rejected.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest

import awa
from tests.trace.jobs import Flaky, Ok, Outcomes, Sleepy, Stuck
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.pg, pytest.mark.slow, pytest.mark.tlc, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
FAST = [
    "--set=heartbeat_interval=0.3",
    "--set=heartbeat_staleness=1.0",
    "--set=rescue_interval=0.3",
    "--set=leader_election_interval=0.3",
    "--set=leader_check_interval=0.3",
    "--set=promote_interval=0.01",
]
# For scenarios where no rescue may happen: heartbeats go stale only after a minute.
SLOW_RESCUE = [a for a in FAST if "heartbeat" not in a] + [
    "--set=heartbeat_interval=20",
    "--set=heartbeat_staleness=60",
]


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("awa_trace_check", ROOT / "tools/trace_check.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


checker = _load_checker()


class Worker(WorkerProcess):
    """One ``awa worker tests.trace.app:client`` process, tracing to a file."""

    def __init__(self, url: str, trace: Path, *args: str) -> None:
        super().__init__("tests.trace.app:client", url, *args, env={"AWA_SPEC_TRACE": str(trace)})


class Notices:
    """NOTIFY ``trace`` payloads ("started 12", "completed 12"), waited on."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute("LISTEN trace")
        self.seen: list[str] = []

    def wait(self, payload: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while payload not in self.seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {payload!r} (seen {self.seen})")
            for notice in self.conn.notifies(timeout=1.0, stop_after=1):
                self.seen.append(notice.payload)


@pytest.fixture(autouse=True)
def _tlc() -> None:
    try:
        checker._tools()
    except Exception as exc:
        pytest.skip(f"TLC cannot run here: {exc}")


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    return tmp_path / "trace.ndjson"


@pytest.fixture
def workers(database_url: str, trace_file: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(*args: str) -> Worker:
        worker = Worker(database_url, trace_file, *args)
        started.append(worker)
        return worker.ready()

    yield start
    for worker in started:
        worker.close()


@pytest.fixture
def notices(database_url: str) -> Iterator[Notices]:
    n = Notices(database_url)
    try:
        yield n
    finally:
        n.conn.close()


def events(trace_file: Path) -> list[dict[str, Any]]:
    return list(checker.read_events(trace_file.read_text(encoding="utf-8").splitlines()))


def assert_accepted(trace: list[dict[str, Any]], jobs: list[int], crashes: int = 0) -> Any:
    verdict = checker.check(trace, jobs=jobs, crashes=crashes)
    shown = "\n".join(json.dumps(e) for e in trace)
    assert verdict.accepted, f"TLC rejected the trace:\n{shown}"
    return verdict


def actions(trace: list[dict[str, Any]]) -> list[str]:
    return [e["action"] for e in trace if e["action"] != "Heartbeat"]


def test_normal_run(database_url: str, workers, notices: Notices, trace_file: Path) -> None:
    worker = workers("--queue", "trace:4", *FAST)
    with awa.Client(database_url) as client:
        ids = client.insert_many([Ok(i) for i in range(20)], queue="trace", max_attempts=3).ids
    for job_id in ids:
        notices.wait(f"completed {job_id}")
    assert worker.stop() == 0
    trace = events(trace_file)
    assert sorted(actions(trace)) == ["Claim"] * 20 + ["Complete"] * 20
    verdict = assert_accepted(trace, list(ids))
    assert verdict.distinct_states < 50 * len(trace)  # hidden steps are placed, not interleaved


def test_retry(database_url: str, workers, notices: Notices, trace_file: Path) -> None:
    worker = workers("--queue", "trace:4", *FAST)
    with awa.Client(database_url) as client:
        job = client.insert(Flaky(1), queue="trace", max_attempts=3)
    notices.wait(f"completed {job.id}")
    assert worker.stop() == 0
    trace = events(trace_file)
    assert actions(trace) == ["Claim", "Retry", "Promote", "Claim", "Complete"]
    assert_accepted(trace, [job.id])


def test_snooze_fail_and_handler_cancel(
    database_url: str, workers, notices: Notices, trace_file: Path
) -> None:
    worker = workers("--queue", "trace:4", *FAST)
    with awa.Client(database_url) as client:
        snoozed, failed, cancelled = (
            client.insert(Outcomes(then), queue="trace", max_attempts=3).id
            for then in ("snooze", "fail", "cancel")
        )
    notices.wait(f"completed {snoozed}")
    notices.wait(f"failed {failed}")
    notices.wait(f"cancelled {cancelled}")
    assert worker.stop() == 0
    trace = events(trace_file)
    by_job = {j: [e["action"] for e in trace if e.get("job") == j] for j in (snoozed, failed)}
    assert by_job[snoozed] == ["Claim", "Snooze", "Claim", "Complete"]
    assert by_job[failed] == ["Claim", "Fail"]
    assert [e["action"] for e in trace if e.get("job") == cancelled] == ["Claim", "HandlerCancel"]
    assert_accepted(trace, [snoozed, failed, cancelled])


def test_sigkill_and_rescue(database_url: str, workers, notices: Notices, trace_file: Path) -> None:
    first = workers("--queue", "stuck:2", *FAST)
    with awa.Client(database_url) as client:
        job = client.insert(Stuck(1), queue="stuck", max_attempts=3)
    notices.wait(f"started {job.id}")
    second = workers("--queue", "stuck:2", *FAST)
    first.proc.kill()  # SIGKILL: no hand-back, heartbeats just stop
    first.proc.wait(30)
    notices.wait(f"completed {job.id}")
    assert second.stop() == 0
    trace = events(trace_file)
    assert actions(trace) == ["Claim", "RescueStale", "Promote", "Claim", "Complete"]
    assert_accepted(trace, [job.id], crashes=1)


def test_paused_process_finishes_late(
    database_url: str, workers, notices: Notices, trace_file: Path
) -> None:
    """SIGSTOP: the job is rescued and run elsewhere while its first worker is
    paused; resumed, that worker's heartbeat or completion must miss."""
    workers("--queue", "trace:1", *FAST)  # first, so it leads (rescues, promotes)
    paused = workers("--queue", "pause:2", *FAST)
    with awa.Client(database_url) as client:
        job = client.insert(Sleepy(1), queue="pause", max_attempts=3)
    notices.wait(f"started {job.id}")
    paused.proc.send_signal(signal.SIGSTOP)
    try:
        workers("--queue", "pause:2", *FAST)
        notices.wait(f"completed {job.id}")
    finally:
        paused.proc.send_signal(signal.SIGCONT)
    assert paused.stop() == 0, "".join(paused.lines)
    trace = events(trace_file)
    first = next(e["worker"] for e in trace if e["action"] == "Claim")
    late = [e["action"] for e in trace if e.get("worker") == first]
    assert late[0] == "Claim"
    assert {"LeaseLost", "FinalizeRejected"} & set(late[1:]), late
    assert "Complete" not in late
    assert actions(trace)[:5] == ["Claim", "RescueStale", "Promote", "Claim", "Complete"]
    assert_accepted(trace, [job.id])
    # Had the paused worker's late completion been accepted, the trace would
    # say Complete where it says LeaseLost/FinalizeRejected: TLC must refuse it.
    miss = max(i for i, e in enumerate(trace) if e["action"] in ("LeaseLost", "FinalizeRejected"))
    accepted_late = [dict(e) for e in trace]
    accepted_late[miss]["action"] = "Complete"
    assert not checker.check(accepted_late, jobs=[job.id]).accepted


def test_shutdown_hands_back(
    database_url: str, workers, notices: Notices, trace_file: Path
) -> None:
    first = workers("--queue", "stuck:2", "--drain-timeout", "0.5", *SLOW_RESCUE)
    with awa.Client(database_url) as client:
        job = client.insert(Stuck(1), queue="stuck", max_attempts=3)
    notices.wait(f"started {job.id}")
    second = workers("--queue", "stuck:2", *SLOW_RESCUE)
    assert first.stop(signal.SIGTERM) == 0
    notices.wait(f"completed {job.id}")
    assert second.stop() == 0
    trace = events(trace_file)
    assert actions(trace) == ["Claim", "HandBack", "Claim", "Complete"]
    assert_accepted(trace, [job.id])


def test_admin_cancel(
    database_url: str,
    workers,
    notices: Notices,
    trace_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = workers("--queue", "stuck:2", *FAST)
    with awa.Client(database_url) as client:
        job = client.insert(Stuck(1), queue="stuck", max_attempts=3)
        notices.wait(f"started {job.id}")
        monkeypatch.setenv("AWA_SPEC_TRACE", str(trace_file))  # this process's admin calls
        assert client.cancel(job.id).state is awa.JobState.CANCELLED
    assert worker.stop() == 0
    trace = events(trace_file)
    assert actions(trace)[:2] == ["Claim", "AdminCancel"]
    assert trace[-1]["action"] != "Complete"
    assert_accepted(trace, [job.id])


# ---------------------------------------------------------------- corrupted traces


def _recorded(database_url: str, workers, notices: Notices, trace_file: Path) -> list[Any]:
    first = workers("--queue", "stuck:2", *FAST)
    with awa.Client(database_url) as client:
        job = client.insert(Stuck(1), queue="stuck", max_attempts=3)
    notices.wait(f"started {job.id}")
    second = workers("--queue", "stuck:2", *FAST)
    first.proc.kill()
    first.proc.wait(30)
    notices.wait(f"completed {job.id}")
    assert second.stop() == 0
    return [job.id, events(trace_file)]


def test_corrupted_traces_are_rejected(
    database_url: str, workers, notices: Notices, trace_file: Path
) -> None:
    job_id, trace = _recorded(database_url, workers, notices, trace_file)
    assert_accepted(trace, [job_id], crashes=1)
    complete = next(i for i, e in enumerate(trace) if e["action"] == "Complete")
    claim = next(i for i, e in enumerate(trace) if e["action"] == "Claim")

    # The rescued attempt's completion accepted: the lease is stale.
    stale = [dict(e) for e in trace]
    stale[complete]["lease"] -= 1
    verdict = checker.check(stale, jobs=[job_id], crashes=1)
    assert not verdict.accepted

    # A step left out: the first claim.
    missing = trace[:claim] + trace[claim + 1 :]
    verdict = checker.check(missing, jobs=[job_id], crashes=1)
    assert not verdict.accepted

    # Two steps swapped: the completion before the claim that allows it.
    second_claim = max(i for i, e in enumerate(trace) if e["action"] == "Claim")
    swapped = list(trace)
    swapped[second_claim], swapped[complete] = swapped[complete], swapped[second_claim]
    verdict = checker.check(swapped, jobs=[job_id], crashes=1)
    assert not verdict.accepted
