"""The throughput chart: stacked bars as inline SVG, drawn on the server."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import awa

WIDTH = 720
HEIGHT = 180
PAD_LEFT = 40
PAD_BOTTOM = 20
SERIES = (("completed", "#2e7d32"), ("failed", "#c62828"), ("cancelled", "#9e9e9e"))


def throughput_svg(buckets: Sequence[awa.ThroughputBucket]) -> str:
    """An SVG document fragment: one stacked bar per minute, a y-axis maximum
    and time labels every ten bars. Safe to embed: every text is escaped."""
    count = max(len(buckets), 1)
    peak = max((b.total for b in buckets), default=0) or 1
    plot_w = WIDTH - PAD_LEFT
    plot_h = HEIGHT - PAD_BOTTOM
    step = plot_w / count
    bar_w = max(step - 1, 1)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        "<title>Jobs finished per minute</title>",
        f'<line x1="{PAD_LEFT}" y1="{plot_h}" x2="{WIDTH}" y2="{plot_h}" stroke="#888"/>',
        f'<text x="{PAD_LEFT - 4}" y="10" text-anchor="end" font-size="10">{peak}</text>',
        f'<text x="{PAD_LEFT - 4}" y="{plot_h}" text-anchor="end" font-size="10">0</text>',
    ]
    for i, bucket in enumerate(buckets):
        x = PAD_LEFT + i * step
        y = float(plot_h)
        label = escape(
            f"{bucket.minute:%H:%M}: {bucket.completed} completed, {bucket.failed} failed,"
            f" {bucket.cancelled} cancelled"
        )
        parts.append(f'<g class="bar"><title>{label}</title>')
        for name, color in SERIES:
            value = getattr(bucket, name)
            if not value:
                continue
            h = plot_h * value / peak
            y -= h
            parts.append(
                f'<rect class="{name}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}"'
                f' height="{h:.1f}" fill="{color}"/>'
            )
        parts.append("</g>")
        if i % 10 == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 6}" font-size="10">{bucket.minute:%H:%M}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
