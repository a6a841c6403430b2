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
