"""Write deploy/grafana/awa-dashboard.json: the Grafana dashboard for awa's
metrics as the OpenTelemetry Prometheus exporter names them.

    python tools/grafana_dashboard.py          # regenerate
    python tools/grafana_dashboard.py --check  # fail if the file is stale

tests/unit/test_observability_names.py checks that every panel's expression
names a metric awa defines (awa/observability/names.py), and that every
metric has a panel.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "deploy" / "grafana" / "awa-dashboard.json"

Q = 'awa_job_queue=~"$queue"'
RATE = "$__rate_interval"


def _rate(metric: str, by: str = "awa_job_queue", selector: str = Q) -> str:
    return f"sum by ({by}) (rate({metric}{{{selector}}}[{RATE}]))"


def _quantile(q: float, metric: str, by: str = "awa_job_queue", selector: str = Q) -> str:
    return (
        f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{selector}}}[{RATE}])))"
    )


def _mean(metric: str, by: str = "awa_job_queue", selector: str = Q) -> str:
    return (
        f"sum by ({by}) (rate({metric}_sum{{{selector}}}[{RATE}]))"
        f" / sum by ({by}) (rate({metric}_count{{{selector}}}[{RATE}]))"
    )


# (title, unit, [(legend, expr)], width)
ROWS: list[tuple[str, list[tuple[str, str, list[tuple[str, str]], int]]]] = [
    (
        "Jobs",
        [
            (
                "Outcomes per second",
                "ops",
                [
                    ("completed {{awa_job_queue}}", _rate("awa_job_completed_total")),
                    ("failed {{awa_job_queue}}", _rate("awa_job_failed_total")),
                    ("retried {{awa_job_queue}}", _rate("awa_job_retried_total")),
                    ("cancelled {{awa_job_queue}}", _rate("awa_job_cancelled_total")),
                    ("snoozed {{awa_job_queue}}", _rate("awa_job_snoozed_total")),
                    ("parked {{awa_job_queue}}", _rate("awa_job_parked_total")),
                ],
                12,
            ),
            (
                "Inserted and claimed per second",
                "ops",
                [
                    ("inserted {{awa_job_queue}}", _rate("awa_job_inserted_total")),
                    ("claimed {{awa_job_queue}}", _rate("awa_job_claimed_total")),
                ],
                12,
            ),
            (
                "Handler duration p50 / p95 / p99 by kind",
                "s",
                [
                    (
                        f"p{int(q * 100)} {{{{awa_job_kind}}}}",
                        _quantile(q, "awa_job_duration_seconds", "awa_job_kind"),
                    )
                    for q in (0.5, 0.95, 0.99)
                ],
                12,
            ),
            (
                "Wait (due to claimed) p50 / p95",
                "s",
                [
                    (
                        f"p{int(q * 100)} {{{{awa_job_queue}}}}",
                        _quantile(q, "awa_job_wait_duration_seconds"),
                    )
                    for q in (0.5, 0.95)
                ],
                12,
            ),
            (
                "In flight",
                "short",
                [("{{awa_job_queue}}", f"sum by (awa_job_queue) (awa_job_in_flight{{{Q}}})")],
                8,
            ),
            (
                "Rescued, stale, lease lost, handed back (per second)",
                "ops",
                [
                    (
                        "rescued {{awa_rescue_reason}}",
                        _rate("awa_job_rescued_total", "awa_rescue_reason"),
                    ),
                    ("stale {{awa_job_queue}}", _rate("awa_job_stale_total")),
                    ("lease lost {{awa_job_queue}}", _rate("awa_job_lease_lost_total")),
                    ("handed back {{awa_job_queue}}", _rate("awa_job_handed_back_total")),
                ],
                16,
            ),
        ],
    ),
    (
        "Queues (published by the leader)",
        [
            (
                "Depth by state",
                "short",
                [
                    (
                        "{{awa_job_queue}} {{awa_job_state}}",
                        f"sum by (awa_job_queue, awa_job_state) (awa_queue_depth{{{Q}}})",
                    )
                ],
                12,
            ),
            (
                "Lag (oldest due available job)",
                "s",
                [("{{awa_job_queue}}", f"max by (awa_job_queue) (awa_queue_lag_seconds{{{Q}}})")],
                12,
            ),
        ],
    ),
    (
        "Dispatch",
        [
            (
                "Claim batch size (mean)",
                "short",
                [("{{awa_job_queue}}", _mean("awa_dispatch_claim_batch_size"))],
                8,
            ),
            (
                "Claim duration p95",
                "s",
                [("{{awa_job_queue}}", _quantile(0.95, "awa_dispatch_claim_duration_seconds"))],
                8,
            ),
            (
                "Rate-limited claims per second",
                "ops",
                [("{{awa_job_queue}}", _rate("awa_dispatch_rate_limited_total"))],
                8,
            ),
        ],
    ),
    (
        "Completion and heartbeat",
        [
            (
                "Completion flush size (mean)",
                "short",
                [
                    (
                        "outcomes per flush",
                        f"sum (rate(awa_completion_flush_batch_size_sum[{RATE}]))"
                        f" / sum (rate(awa_completion_flush_batch_size_count[{RATE}]))",
                    )
                ],
                8,
            ),
            (
                "Completion flush duration p95",
                "s",
                [
                    (
                        "p95",
                        f"histogram_quantile(0.95, sum by (le) "
                        f"(rate(awa_completion_flush_duration_seconds_bucket[{RATE}])))",
                    )
                ],
                8,
            ),
            (
                "Heartbeat statements per second",
                "ops",
                [("batches", f"sum (rate(awa_heartbeat_batches_total[{RATE}]))")],
                8,
            ),
        ],
    ),
    (
        "Maintenance (leader)",
        [
            (
                "Task duration p95",
                "s",
                [
                    (
                        "{{awa_maintenance_task}}",
                        _quantile(
                            0.95, "awa_maintenance_duration_seconds", "awa_maintenance_task", ""
                        ),
                    )
                ],
                8,
            ),
            (
                "Promoted per second and promotion lateness p95",
                "short",
                [
                    ("promoted/s", f"sum (rate(awa_maintenance_promoted_total[{RATE}]))"),
                    (
                        "lateness p95 (s)",
                        f"histogram_quantile(0.95, sum by (le) "
                        f"(rate(awa_maintenance_promotion_lateness_seconds_bucket[{RATE}])))",
                    ),
                ],
                8,
            ),
            (
                "Cron fires per second",
                "ops",
                [("{{awa_cron_name}}", _rate("awa_cron_fired_total", "awa_cron_name", ""))],
                8,
            ),
        ],
    ),
]


def _panel(
    panel_id: int, title: str, unit: str, targets: list[tuple[str, str]], x: int, y: int, w: int
) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": expr.replace("{}", ""),
                "legendFormat": legend,
            }
            for i, (legend, expr) in enumerate(targets)
        ],
    }


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    next_id = 1
    for row_title, row_panels in ROWS:
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": row_title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        next_id += 1
        y += 1
        x = 0
        for title, unit, targets, width in row_panels:
            if x + width > 24:
                x, y = 0, y + 8
            panels.append(_panel(next_id, title, unit, targets, x, y, width))
            next_id += 1
            x += width
        y += 8
    return {
        "title": "awa job queue",
        "uid": "awa-overview",
        "description": "awa's OpenTelemetry metrics as exported to Prometheus"
        " (see docs/observability.md).",
        "tags": ["awa", "postgres", "jobs"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                },
                {
                    "name": "queue",
                    "label": "Queue",
                    "type": "query",
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    "query": "label_values(awa_job_inserted_total, awa_job_queue)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "refresh": 2,
                },
            ]
        },
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run python tools/grafana_dashboard.py")
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
