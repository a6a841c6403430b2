"""The metric table (awa/observability/names.py) against the real Prometheus
exporter, the Grafana dashboard and the docs; observability options."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest

import awa
from awa import observability
from awa._model.runtime_config import QueueConfig, parse_runtime
from awa._runtime.lease import InFlight
from awa._runtime.signals import Signals
from awa.observability import names as n
from awa.observability.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "awa-dashboard.json"

# One of each signal the metrics layer hears, shaped as the runtime emits it.
SIGNALS: list[tuple[str, dict[str, Any]]] = [
    ("claim", {"queue": "q", "count": 2, "duration": 0.002, "waits": [0.01, 0.02]}),
    *[
        (
            "job_finalized",
            {"id": 1, "lease": 1, "action": action, "kind": "k", "queue": "q", "duration": 0.1},
        )
        for action in ("complete", "retry", "fail", "cancel", "snooze", "park", "hand_back")
    ],
    ("job_stale", {"id": 1, "lease": 1, "action": "complete", "kind": "k", "queue": "q"}),
    (
        "job_rescued",
        {
            "id": 1,
            "lease": 1,
            "state": "retryable",
            "reason": "heartbeat",
            "kind": "k",
            "queue": "q",
        },
    ),
    ("callback_timed_out", {"id": 2, "state": "failed", "kind": "k", "queue": "q"}),
    ("lease_lost", {"id": 1, "lease": 1, "queue": "q"}),
    ("rate_limited", {"queue": "q"}),
    ("heartbeat", {"alive": 3, "lost": 0, "batches": 1}),
    ("flushed", {"size": 4, "duration": 0.003}),
    ("maintenance_pass", {"task": "rescue", "duration": 0.01, "ok": True}),
    ("promoted", {"count": 5, "max_lateness": 0.2}),
    ("cron_fired", {"name": "nightly", "fire": None, "job": 9}),
    (
        "queue_gauges",
        {"rows": [{"queue": "q", "state": "available", "jobs": 7, "lag_seconds": 1.5}]},
    ),
]


def _exported() -> dict[str, str]:
    """Prometheus metric family name -> type, after one of every signal."""
    registry = CollectorRegistry()
    reader = PrometheusMetricReader(registry=registry, disable_target_info=True)
    provider = MeterProvider(metric_readers=[reader])
    try:
        metrics = Metrics(provider.get_meter("awa"))
        runtime: Any = SimpleNamespace(
            signals=Signals(),
            inflight=InFlight(),
            config=SimpleNamespace(queues=[QueueConfig(name="q")]),
        )
        metrics.attach(runtime)
        metrics.inserted({("q", "k"): 3})
        for name, data in SIGNALS:
            runtime.signals.emit(name, **data)
        text = generate_latest(registry).decode()
    finally:
        provider.shutdown()
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))


def test_every_metric_is_exported_under_its_prometheus_name() -> None:
    exported = _exported()
    expected_type = {
        "counter": "counter",
        "histogram": "histogram",
        "observable_updown_counter": "gauge",
        "observable_gauge": "gauge",
    }
    assert exported == {m.prometheus_name: expected_type[m.instrument] for m in n.METRICS}


def test_metric_names_are_unique_and_attributes_known() -> None:
    assert len({m.name for m in n.METRICS}) == len(n.METRICS)
    keys = {n.QUEUE, n.KIND, n.OUTCOME, n.STATE, n.RESCUE_REASON, n.TASK, n.CRON_NAME}
    for metric in n.METRICS:
        assert set(metric.attributes) <= keys, metric.name
        assert metric.name.startswith("awa.")
        assert metric.description.endswith(".")


# -- the Grafana dashboard ---------------------------------------------------

_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"\{([^}]*)\}")
_HISTOGRAM_PARTS = ("_bucket", "_sum", "_count")


def _expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    found = [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]
    assert found
    return found


def _metric_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) an expression refers to."""
    labels: set[str] = set()
    for group in _GROUPING.findall(expr):
        labels |= {x.strip() for x in group.split(",") if x.strip()}
    for selector in _SELECTOR.findall(expr):
        labels |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
    # Legend templates and label lists out: what is left are metric names.
    bare = _SELECTOR.sub("", _GROUPING.sub("", expr))
    metrics = set(re.findall(r"\bawa_\w+", bare))
    return metrics, labels


def _defined_series() -> set[str]:
    series: set[str] = set()
    for metric in n.METRICS:
        if metric.instrument == "histogram":
            series |= {metric.prometheus_name + part for part in _HISTOGRAM_PARTS}
        else:
            series.add(metric.prometheus_name)
    return series


def test_every_dashboard_expression_names_defined_metrics_and_labels() -> None:
    series = _defined_series()
    labels = {key.replace(".", "_") for key in (n.QUEUE, n.KIND, n.OUTCOME, n.STATE)}
    labels |= {key.replace(".", "_") for key in (n.RESCUE_REASON, n.TASK, n.CRON_NAME)}
    labels.add("le")
    for expr in _expressions():
        metrics, used = _metric_names(expr)
        assert metrics, expr
        assert metrics <= series, (expr, metrics - series)
        assert used <= labels, (expr, used - labels)


def test_every_metric_has_a_dashboard_panel() -> None:
    used: set[str] = set()
    for expr in _expressions():
        used |= _metric_names(expr)[0]
    for part in _HISTOGRAM_PARTS:
        used |= {name.removesuffix(part) for name in used}
    missing = {m.prometheus_name for m in n.METRICS} - used
    assert not missing


def test_dashboard_file_is_generated_and_current() -> None:
    result = subprocess.run(
        [sys.executable, "tools/grafana_dashboard.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- options -----------------------------------------------------------------


def test_configure_refuses_a_non_bool() -> None:
    with pytest.raises(awa.ConfigError, match="enabled"):
        observability.configure(enabled="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("every", [0, -1, True, 1.5, "2", None])
def test_configure_refuses_a_bad_histogram_stride_and_keeps_what_it_had(every: object) -> None:
    before = (observability._state.enabled, observability._state.job_histograms_every)
    with pytest.raises(awa.ConfigError, match="job_histograms_every") as raised:
        observability.configure(enabled=False, job_histograms_every=every)  # type: ignore[arg-type]
    assert raised.value.field == "job_histograms_every"
    assert (observability._state.enabled, observability._state.job_histograms_every) == before


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("telemetry", "yes"),
        ("queue_metrics_interval", 0),
        ("health_port", -1),
        ("health_port", True),
        ("health_host", "a\x00b"),
    ],
)
def test_bad_observability_options_are_refused(option: str, value: object) -> None:
    with pytest.raises(awa.ConfigError, match=option):
        parse_runtime(["q"], {option: value})


def test_spans_are_skipped_while_they_would_go_nowhere() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from awa.observability.tracing import Tracing

    sdk = TracerProvider()
    assert Tracing(sdk.get_tracer("t"), sdk).recording()
    assert not Tracing(trace.NoOpTracer(), trace.NoOpTracerProvider()).recording()
    # The global provider, never set by these tests: the API's proxy, no SDK.
    assert not Tracing(trace.get_tracer("t"), None).recording()
    sdk.shutdown()


def test_a_tracer_provider_installed_later_is_found_within_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from awa.observability.tracing import Tracing

    now = [100.0]
    tracing = Tracing(trace.get_tracer("t"), None, clock=lambda: now[0])
    assert not tracing.recording()
    sdk = TracerProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: sdk)
    now[0] += 0.5
    assert not tracing.recording()  # not looked up again yet
    now[0] += 0.5
    assert tracing.recording()
    monkeypatch.undo()
    assert tracing.recording()  # once recording, always: the global is set only once
    sdk.shutdown()


def test_the_docs_table_lists_every_metric() -> None:
    text = (ROOT / "docs" / "observability.md").read_text()
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in text.splitlines()
        if line.startswith("| `awa.") and line.count("|") == 7  # the six-column table
    }
    assert set(rows) == {m.name for m in n.METRICS}
    for metric in n.METRICS:
        row = rows[metric.name]
        assert f"`{metric.unit}`" in row
        assert f"`{metric.prometheus_name}" in row
        for attribute in metric.attributes:
            assert f"`{attribute}`" in row, (metric.name, attribute)


_WITHOUT_OTEL = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, Block())
import awa
from awa import observability
from awa._model import instrumentation
from awa._model.insert import PayloadLimits, prepare_insert
from awa._model.runtime_config import parse_runtime

assert not observability.available()
assert observability.runtime_telemetry(parse_runtime(["q"], {})) is None
assert instrumentation.capture_trace() == {}
row = prepare_insert({"a": 1}, kind="k", queue="q", priority=2, max_attempts=3, tags=None,
                     metadata=None, run_at=None, unique_opts=None, limits=PayloadLimits())
assert row.metadata == "{}", row.metadata
assert not any(m.startswith("opentelemetry") for m in sys.modules)
print("ok")
"""


def test_awa_works_without_opentelemetry_installed() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_OTEL],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"
