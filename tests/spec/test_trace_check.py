"""tools/trace_check.py and the trace the runtime writes, without PostgreSQL.

The end-to-end checks (real workers, real traces) are in tests/trace/; here:
trace emission is off unless asked for, the converter refuses what it can't
check, and TLC accepts a hand-written behaviour of AwaCore and rejects small
changes to it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from awa._runtime.spec_trace import ENV, SpecTrace, default_trace

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("awa_trace_check", ROOT / "tools/trace_check.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


checker = _load()

# A job claimed, its worker killed, rescued, promoted and run by another
# worker (what tests/trace records for SIGKILL), with leader lines mixed in.
RESCUED = [
    {"action": "BecomeLeader", "worker": "a"},
    {"action": "Claim", "job": 7, "lease": 1, "worker": "a", "attempt": 1, "max_attempts": 3},
    {"action": "Heartbeat", "job": 7, "lease": 1, "worker": "a"},
    {"action": "BecomeLeader", "worker": "b"},
    {"action": "RescueStale", "job": 7, "lease": 1, "state": "retryable"},
    {"action": "Promote", "count": 1},
    {"action": "Claim", "job": 7, "lease": 2, "worker": "b", "attempt": 2, "max_attempts": 3},
    {"action": "Complete", "job": 7, "lease": 2, "worker": "b"},
]


def lines(events: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(e) for e in events]


def test_trace_is_off_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    trace = SpecTrace(None)
    assert not trace.enabled
    trace.emit("Claim", job=1, lease=1, worker="w")
    assert not default_trace().enabled
    assert list(tmp_path.iterdir()) == []


def test_trace_appends_one_json_line_per_action(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.ndjson"
    monkeypatch.setenv(ENV, str(path))
    assert default_trace().enabled  # admin calls read the variable when called
    SpecTrace(None).emit("Claim", job=1, lease=1, worker="w")
    SpecTrace(str(path)).emit("Complete", job=1, lease=1, worker="w")
    read = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["action"], e["job"], e["lease"]) for e in read] == [
        ("Claim", 1, 1),
        ("Complete", 1, 1),
    ]
    assert all({"t", "pid"} <= set(e) for e in read)


def test_converter_refuses_what_it_cannot_check() -> None:
    with pytest.raises(checker.TraceError, match="not JSON"):
        checker.read_events(["{nope"])
    with pytest.raises(checker.TraceError, match="Park"):
        checker.read_events(lines([{"action": "Park", "job": 1, "lease": 1, "worker": "w"}]))
    mixed = [
        {"action": "Claim", "job": 1, "lease": 1, "worker": "w", "attempt": 1, "max_attempts": 3},
        {"action": "Claim", "job": 2, "lease": 1, "worker": "w", "attempt": 1, "max_attempts": 5},
    ]
    with pytest.raises(checker.TraceError, match="max_attempts"):
        checker.trace_module(mixed)


def test_converter_abstracts_ids_and_expands_promotions() -> None:
    events = checker.read_events(lines(RESCUED))
    assert "BecomeLeader" not in {e["action"] for e in events}
    module = checker.trace_module(events, jobs=[7, 8], crashes=1)
    assert 'TraceJobs == {"j1", "j2"}' in module
    assert 'TraceWorkers == {"w1", "w2"}' in module
    assert "TraceMaxAttempts == 3" in module
    assert module.count('action |-> "Promote"') == 1
    assert "7" not in module.split("Trace ==")[1]  # no raw job id in the events


@pytest.mark.tlc
@pytest.mark.slow
def test_tlc_accepts_a_behaviour_and_rejects_changed_ones() -> None:
    try:
        checker._tools()
    except Exception as exc:
        pytest.skip(f"TLC cannot run here: {exc}")
    events = checker.read_events(lines(RESCUED))
    verdict = checker.check(events, crashes=1)
    assert verdict.accepted
    assert verdict.distinct_states

    stale = [dict(e) for e in events]
    stale[-1]["lease"] = 1  # the rescued attempt completes
    assert not checker.check(stale, crashes=1).accepted

    no_rescue = [e for e in events if e["action"] != "RescueStale"]
    assert not checker.check(no_rescue, crashes=1).accepted

    failed = [dict(e) for e in events]
    rescue = next(i for i, e in enumerate(failed) if e["action"] == "RescueStale")
    failed[rescue]["state"] = "failed"  # rescue failing a job with attempts left
    assert not checker.check(failed, crashes=1).accepted
