"""The runnable examples in examples/ and the ``awa demo`` command run to completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.pg


def run(
    args: list[str], database_url: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_quickstart_runs_as_written(database_url: str) -> None:
    result = run([sys.executable, "examples/quickstart.py"], database_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Sending to alice@example.com: Welcome"


def test_progress_example_resumes_from_its_checkpoint(database_url: str) -> None:
    result = run([sys.executable, "examples/progress.py"], database_url)
    assert result.returncode == 0, result.stderr
    assert "attempt 1 failed: the source dropped the connection at item 6" in result.stdout
    assert "completed after 2 attempts" in result.stdout
    assert "items processed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]" in result.stdout


def test_transactional_enqueue_keeps_only_committed_jobs(database_url: str) -> None:
    result = run([sys.executable, "examples/transactional_enqueue.py"], database_url)
    assert result.returncode == 0, result.stderr
    assert "order 2 rolled back: payment declined" in result.stdout
    assert "orders confirmed: [1, 3]" in result.stdout


def test_flask_app_enqueues_in_request_transactions(database_url: str) -> None:
    result = run([sys.executable, "examples/flask_app.py"], database_url)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("201 {'job_id'") == 2
    assert "409 {'error': 'alice@example.com has already signed up'}" in out
    assert "400 {'error': 'a valid email is required'}" in out
    assert "welcome email sent to alice@example.com" in out
    assert "welcome email sent to bob@example.com" in out
    assert out.count(": completed") == 2


def test_etl_pipeline_runs_from_its_cron_schedule(database_url: str) -> None:
    result = run([sys.executable, "examples/etl_pipeline.py"], database_url)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "planning 3 files from s3://exports" in out
    for line in ("loaded orders.csv: 100 rows", "loaded refunds.csv: 20 rows", "loaded fees.csv"):
        assert line in out
    assert "3 files, 170 rows, total 49600" in out
    assert "schedule paused: True" in out


def test_webhook_payments_wait_for_signed_callbacks(database_url: str) -> None:
    result = run([sys.executable, "examples/webhook_payments.py"], database_url)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "forged callback refused: 401" in out
    charging = [line for line in out.splitlines() if line.startswith("charging order")]
    assert charging[0] == "charging order 2 (priority 1)"  # the big order goes first
    for line in (
        "notified order 1: receipt",
        "notified order 2: receipt",
        "notified order 3: card declined",
        "charge order 1: completed",
        "charge order 2: completed",
        "charge order 3: failed",
    ):
        assert line in out


def test_email_campaign_copies_prioritises_and_retries(database_url: str) -> None:
    result = run([sys.executable, "examples/email_campaign.py"], database_url)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "enqueued 200 emails with COPY" in out
    assert "first pass: 190 sent, 10 failed" in out
    assert "the first 20 sent were the VIPs: True" in out
    assert "retry_failed: 10 jobs back in the queue" in out
    assert "all 200 recipients reached" in out


def test_demo_runs_every_kind_of_job(database_url: str) -> None:
    result = run(
        [sys.executable, "-m", "awa.cli.main", "demo", "--once", "--emails", "5"], database_url
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "done   send_email" in out
    assert "retry  import_batch" in out
    assert "resumes after item 5" in out
    assert "FAIL   charge_card" in out
    assert "done   build_report" in out
    assert "all demo jobs finished" in out


def test_worker_command_rejects_a_bad_target(database_url: str) -> None:
    for target, message in [
        ("nocolon", "MODULE:CLIENT"),
        ("no_such_module:client", "cannot import"),
        ("tests.helpers:SendEmail", "not an awa.AsyncClient"),
    ]:
        result = run([sys.executable, "-m", "awa.cli.main", "worker", target], database_url)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
