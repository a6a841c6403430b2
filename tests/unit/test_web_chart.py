"""The server-rendered throughput chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import awa
from awa.web.chart import throughput_svg


def bucket(i: int, completed: int = 0, failed: int = 0) -> awa.ThroughputBucket:
    minute = datetime(2026, 1, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=i)
    return awa.ThroughputBucket(minute=minute, completed=completed, failed=failed, cancelled=0)


def test_one_stacked_bar_per_minute() -> None:
    svg = throughput_svg([bucket(0, 3, 1), bucket(1), bucket(2, 4)])
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert svg.count('<g class="bar">') == 3
    assert svg.count('class="completed"') == 2
    assert svg.count('class="failed"') == 1
    assert ">4</text>" in svg  # the peak labels the y axis
    assert "12:00: 3 completed, 1 failed, 0 cancelled" in svg


def test_empty_series() -> None:
    svg = throughput_svg([])
    assert "<rect" not in svg
    assert svg.endswith("</svg>")
