"""A gross-regression guard: awa against the raw-SQL floor, in one run.

Ratios, not absolute rates, so a loaded machine does not fail it; a ratio
below half of the stored one (benchmarks/baseline.json) is measured again, up
to three rounds, comparing the best rate of each side, so noise does not either.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.compare import LIBRARIES, Step, run_step

pytestmark = [pytest.mark.benchmark, pytest.mark.pg, pytest.mark.slow]

BASELINE = json.loads((Path(__file__).parents[2] / "benchmarks" / "baseline.json").read_text())
LIBS = {lib.name: lib for lib in LIBRARIES}
DRAIN = Step("drain", "drain", ("--size", "2000"))
SINGLE = Step("single_insert", "single_insert", ("--size", "500"))


def rate(library: str, step: Step, admin_url: str) -> float:
    row: dict[str, Any] = run_step(sys.executable, LIBS[library], step, admin_url, 120)
    assert "error" not in row, row
    return float(row["jobs_per_s"])


@pytest.mark.parametrize(
    ("step", "key"), [(DRAIN, "drain_over_raw"), (SINGLE, "single_insert_over_raw")]
)
def test_awa_keeps_half_its_stored_ratio_to_raw_sql(
    pg_admin_url: str, step: Step, key: str
) -> None:
    floor = BASELINE[key] / 2
    awa_best = raw_best = 0.0
    ratios = []
    for _ in range(3):  # noise only slows a run down: compare the best of each
        awa_best = max(awa_best, rate("awa-asyncio", step, pg_admin_url))
        raw_best = max(raw_best, rate("raw-sql", step, pg_admin_url))
        ratios.append(round(awa_best / raw_best, 3))
        if awa_best / raw_best >= floor:
            return
    pytest.fail(f"{step.label}: awa/raw ratios {ratios} below {floor} (half of {BASELINE[key]})")
