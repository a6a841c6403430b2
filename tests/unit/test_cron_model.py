from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from awa import ValidationError
from awa._model.cron import CronSchedule, due_fires, make_periodic


@dataclass
class Report:
    day: str


def test_five_and_six_field_expressions() -> None:
    every_15s = CronSchedule.parse("*/15 * * * * *")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert [f.second for f in every_15s.fires(start, start + timedelta(minutes=1))] == [
        15,
        30,
        45,
        0,
    ]
    hourly = CronSchedule.parse("@hourly")
    assert len(hourly.fires(start, start + timedelta(hours=3))) == 3
    assert CronSchedule.parse("  0  9 * * 1-5 ").expr == "0 9 * * 1-5"


@pytest.mark.parametrize(
    ("expr", "zone"),
    [
        ("61 * * * *", "UTC"),
        ("* * * *", "UTC"),
        ("", "UTC"),
        (5, "UTC"),
        ("* * * * *", "Mars/Base"),
        ("* * * * *", ""),
    ],
)
def test_invalid_expressions_and_zones(expr: object, zone: object) -> None:
    with pytest.raises(ValidationError):
        CronSchedule.parse(expr, zone)


def test_spring_forward_runs_the_skipped_time_when_the_clock_jumps() -> None:
    schedule = CronSchedule.parse("30 2 * * *", "America/New_York")
    fires = schedule.fires(datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC))
    assert [f.isoformat() for f in fires] == [
        "2026-03-07T07:30:00+00:00",
        "2026-03-08T07:00:00+00:00",  # 03:00 EDT: 02:30 did not exist
        "2026-03-09T06:30:00+00:00",
    ]


def test_fall_back_fires_a_fixed_hour_once_and_intervals_twice() -> None:
    daily = CronSchedule.parse("30 1 * * *", "America/New_York")
    fires = daily.fires(datetime(2026, 10, 31, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
    assert [f.isoformat() for f in fires] == [
        "2026-10-31T05:30:00+00:00",
        "2026-11-01T05:30:00+00:00",  # 01:30 EDT only, not again at 01:30 EST
        "2026-11-02T06:30:00+00:00",
    ]
    half_hourly = CronSchedule.parse("*/30 * * * *", "America/New_York")
    window = (datetime(2026, 11, 1, 4, 0, tzinfo=UTC), datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    assert len(half_hourly.fires(*window)) == 8  # real time: every 30 minutes


def test_due_fires_coalesce_catch_up_and_first_fire() -> None:
    schedule = CronSchedule.parse("* * * * *")
    now = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    last = datetime(2026, 1, 1, 11, 55, tzinfo=UTC)
    assert len(due_fires(schedule, last=last, created=last, now=now, policy="catch_up")) == 5
    assert due_fires(schedule, last=last, created=last, now=now, policy="coalesce") == [
        datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    ]
    # a new schedule fires once (the latest due), whatever the policy
    created = now - timedelta(minutes=3)
    assert len(due_fires(schedule, last=None, created=created, now=now, policy="catch_up")) == 1
    assert due_fires(schedule, last=now, created=created, now=now, policy="catch_up") == []


def test_make_periodic_validates_everything_up_front() -> None:
    job = make_periodic("daily", "0 6 * * *", Report, Report("mon"), timezone="Europe/Paris")
    assert (job.kind, job.queue, job.args) == ("report", "default", '{"day":"mon"}')
    bad = [
        {"name": ""},
        {"cron_expr": "nonsense"},
        {"timezone": "Nowhere/Land"},
        {"priority": 9},
        {"max_attempts": 0},
        {"missed_fire_policy": "sometimes"},
        {"args": "not a Report"},
        {"tags": ["x"] * 21},
    ]
    base = {"name": "n", "cron_expr": "* * * * *", "args": Report("x")}
    for change in bad:
        values = {**base, **change}
        with pytest.raises(ValidationError):
            make_periodic(
                values.pop("name"), values.pop("cron_expr"), Report, values.pop("args"), **values
            )
