"""The ``awa`` command line against a real database: ``main(argv)`` in-process,
and a few runs as a real subprocess (exit codes, output, no password echoed)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import Any

import psycopg
import pytest

import awa
from awa.cli.main import main
from tests.helpers import SendEmail, force_failed, force_running, job_state

pytestmark = pytest.mark.pg


def awa_cli(
    capsys: pytest.CaptureFixture[str], url: str | None, *argv: str
) -> tuple[int, str, str]:
    """Run ``awa [--database-url URL] ARGV...`` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([*(["--database-url", url] if url else []), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def failed_jobs(
    client: awa.Client, db: psycopg.Connection[Any], count: int, **opts: Any
) -> list[int]:
    ids = list(client.insert_many([SendEmail(f"u{i}", "hi") for i in range(count)], **opts).ids)
    for job_id in ids:
        force_failed(db, job_id)
    return ids


def test_job_list_get_and_filters(capsys, database_url, sync_client, db) -> None:
    ids = list(sync_client.insert_many([SendEmail(f"u{i}", "hi") for i in range(5)]).ids)
    sync_client.insert({"n": 1}, kind="report", queue="reports", tags=["nightly"])
    force_failed(db, ids[0])

    code, out, err = awa_cli(capsys, database_url, "job", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "STATE", "KIND", "QUEUE"]
    assert len(lines) == 7

    code, out, _ = awa_cli(capsys, database_url, "job", "list", "--state", "failed", "--json")
    listed = json.loads(out)
    assert [j["id"] for j in listed["jobs"]] == [ids[0]]
    assert listed["next_cursor"] is None

    code, out, err = awa_cli(capsys, database_url, "job", "list", "--limit", "2", "--json")
    first = json.loads(out)
    assert len(first["jobs"]) == 2
    assert first["next_cursor"]
    code, out, err = awa_cli(
        capsys, database_url, "job", "list", "--limit", "2", "--cursor", first["next_cursor"]
    )
    assert code == 0
    assert "more: --cursor" in err

    code, out, _ = awa_cli(capsys, database_url, "job", "list", "--search", "nightly", "--json")
    assert [j["kind"] for j in json.loads(out)["jobs"]] == ["report"]

    code, out, _ = awa_cli(capsys, database_url, "job", "get", str(ids[1]))
    assert code == 0
    assert "kind:         send_email" in out
    assert '"to": "u1"' in out.replace("'", '"')
    code, out, _ = awa_cli(capsys, database_url, "job", "get", str(ids[1]), "--json")
    assert json.loads(out)["args"] == {"to": "u1", "subject": "hi"}


def test_job_retry_and_cancel(capsys, database_url, sync_client, db) -> None:
    failed, waiting = sync_client.insert_many([SendEmail("a", "b"), SendEmail("c", "d")]).ids
    force_failed(db, failed)
    code, out, err = awa_cli(capsys, database_url, "job", "retry", str(failed))
    assert (code, out.strip()) == (0, f"job {failed} retried: now available"), err
    code, out, _ = awa_cli(capsys, database_url, "job", "cancel", str(waiting), "--json")
    assert code == 0
    assert json.loads(out)["state"] == "cancelled"
    assert job_state(db, waiting) == "cancelled"
    assert json.loads(out)["errors"][-1]["message"] == "cancelled by admin (awa job cancel)"


def test_exit_codes_for_bad_input(capsys, database_url, sync_client, db) -> None:
    job = sync_client.insert(SendEmail("a", "b"))
    force_running(db, job.id)
    cases: list[tuple[list[str], int, str]] = [
        (["job", "get", "999999"], 3, "job 999999 not found"),
        (["job", "retry", str(job.id)], 4, "running"),
        (["job", "get", "abc"], 2, "positive integer"),
        (["job", "get", "0"], 2, "positive integer"),
        (["job", "list", "--state", "nope"], 2, "state"),
        (["job", "list", "--cursor", "xyz"], 2, "cursor"),
        (["job", "list", "--limit", "0"], 2, "positive integer"),
        (["job", "retry-failed"], 2, "--kind and/or --queue"),
        (["job", "discard", "--all", "--kind", "x"], 2, "--all goes alone"),
        (["queue", "pause", ""], 2, "queue"),
        (["cron", "trigger", "nope"], 3, "nope"),
        (["cron", "remove", "nope"], 3, "nope"),
        (["job"], 2, "COMMAND"),
        (["frobnicate"], 2, "invalid choice"),
    ]
    for argv, expected, message in cases:
        code, out, err = awa_cli(capsys, database_url, *argv)
        assert code == expected, (argv, out, err)
        assert message in err, (argv, err)


def test_no_database_is_a_usage_error(capsys, monkeypatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, _, err = awa_cli(capsys, None, "job", "list")
    assert code == 2
    assert "no database" in err


def test_retry_failed_in_batches_with_progress(capsys, database_url, sync_client, db) -> None:
    ids = failed_jobs(sync_client, db, 5)
    other = failed_jobs(sync_client, db, 1, queue="other")
    code, out, err = awa_cli(
        capsys, database_url, "job", "retry-failed", "--queue", "default", "--batch-size", "2"
    )
    assert code == 0, err
    assert out.strip() == "retried 5 failed job(s)"
    assert "awa: retried 2 so far" in err
    assert "awa: retried 4 so far" in err
    assert {job_state(db, i) for i in ids} == {"available"}
    assert job_state(db, other[0]) == "failed"

    code, out, err = awa_cli(capsys, database_url, "job", "retry-failed", "--all", "--json")
    assert json.loads(out) == {"retried": 1, "unique_conflicts": 0}
    assert err == ""  # --json: no progress lines


def test_discard_failed(capsys, database_url, sync_client, db) -> None:
    failed_jobs(sync_client, db, 3, kind="doomed")
    kept = failed_jobs(sync_client, db, 1)
    code, out, err = awa_cli(
        capsys, database_url, "job", "discard", "--kind", "doomed", "--batch-size", "1"
    )
    assert (code, out.strip()) == (0, "discarded 3 failed job(s)"), err
    assert err.count("so far") == 3
    assert job_state(db, kept[0]) == "failed"


def test_queue_commands(capsys, database_url, sync_client, db) -> None:
    sync_client.insert_many([SendEmail(f"u{i}", "hi") for i in range(3)], queue="mail")
    code, out, _ = awa_cli(capsys, database_url, "queue", "stats")
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:3] == ["QUEUE", "PAUSED", "AVAILABLE"]
    assert row.split()[:3] == ["mail", "no", "3"]

    assert awa_cli(capsys, database_url, "queue", "pause", "mail")[1] == "queue mail paused\n"
    code, out, _ = awa_cli(capsys, database_url, "queue", "stats", "--json")
    (stat,) = json.loads(out)
    assert stat["paused"] is True
    assert stat["available"] == 3
    assert awa_cli(capsys, database_url, "queue", "resume", "mail")[0] == 0
    assert sync_client.queue_stats()[0].paused is False

    code, out, err = awa_cli(capsys, database_url, "queue", "drain", "mail", "--batch-size", "2")
    assert (code, out.strip()) == (0, "queue mail drained: 3 job(s) cancelled"), err
    assert "cancelled 2 so far" in err


def test_cron_commands(capsys, database_url, sync_client) -> None:
    sync_client.periodic("nightly", "0 3 * * *", SendEmail, SendEmail("ops", "report"))
    sync_client.sync_periodic()
    code, out, _ = awa_cli(capsys, database_url, "cron", "list")
    assert code == 0
    assert out.splitlines()[1].split()[:2] == ["nightly", "0"]
    code, out, _ = awa_cli(capsys, database_url, "cron", "list", "--json")
    (schedule,) = json.loads(out)
    assert schedule["name"] == "nightly"
    assert schedule["next_fire_at"]

    code, out, _ = awa_cli(capsys, database_url, "cron", "trigger", "nightly")
    job_id = int(out.split()[-1])
    assert sync_client.get_job(job_id).kind == "send_email"
    assert awa_cli(capsys, database_url, "cron", "pause", "nightly")[0] == 0
    assert sync_client.get_cron_job("nightly").paused
    code, out, _ = awa_cli(capsys, database_url, "cron", "resume", "nightly")
    assert code == 0
    assert "next fire" in out
    assert awa_cli(capsys, database_url, "cron", "remove", "nightly")[1] == (
        "schedule nightly removed\n"
    )
    assert sync_client.list_cron_jobs() == []


def test_serve_refuses_unsafe_settings(capsys, database_url, monkeypatch) -> None:
    monkeypatch.delenv("AWA_UI_TOKEN", raising=False)
    code, _, err = awa_cli(capsys, database_url, "serve", "--host", "0.0.0.0")
    assert code == 2
    assert "without a token" in err
    assert "AWA_UI_TOKEN" in err
    code, _, err = awa_cli(capsys, database_url, "serve", "--token", "short")
    assert code == 2
    assert "16 characters" in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, _, err = awa_cli(capsys, database_url, "serve", "--port", port)
        assert code == 2
        assert f"cannot listen on 127.0.0.1:{port}" in err
        code, _, err = awa_cli(capsys, database_url, "demo", "--port", port)
        assert code == 2
        assert "cannot listen" in err
    code, _, err = awa_cli(capsys, database_url, "serve", "--port", "70000")
    assert code == 2
    assert "--port" in err


class Terminal:
    """stdin as a terminal that answers ``answer`` to a prompt."""

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        return self.answer + "\n"


def test_destructive_commands_ask_on_a_terminal(
    capsys, monkeypatch, database_url, sync_client, db
) -> None:
    failed_jobs(sync_client, db, 2)
    sync_client.insert(SendEmail("x", "y"), queue="mail")
    monkeypatch.setattr("sys.stdin", Terminal("n"))
    code, _, err = awa_cli(capsys, database_url, "job", "discard", "--all")
    assert code == 1
    assert err.startswith("Delete every failed job of every kind and queue? [y/N] ")
    assert "not confirmed" in err
    code, _, err = awa_cli(capsys, database_url, "queue", "drain", "mail")
    assert code == 1
    assert sync_client.job_state_counts()["failed"] == 2
    assert sync_client.job_state_counts()["available"] == 1
    code, out, _ = awa_cli(capsys, database_url, "job", "discard", "--all", "--yes")
    assert (code, out) == (0, "discarded 2 failed job(s)\n")
    monkeypatch.setattr("sys.stdin", Terminal("y"))
    code, out, _ = awa_cli(capsys, database_url, "queue", "drain", "mail")
    assert (code, out) == (0, "queue mail drained: 1 job(s) cancelled\n")


# -- as a real process ---------------------------------------------------------


def run_awa(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "awa.cli.main", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        check=False,
    )


def test_subprocess_json_output_and_exit_codes(database_url, sync_client, db) -> None:
    (job_id,) = failed_jobs(sync_client, db, 1)
    result = run_awa("job", "list", "--json", env={"DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    assert [j["id"] for j in json.loads(result.stdout)["jobs"]] == [job_id]

    result = run_awa("--database-url", database_url, "job", "retry", "424242")
    assert result.returncode == 3
    assert result.stderr.strip() == "awa: error: job 424242 not found"

    result = run_awa("--database-url", database_url, "job", "retry-failed")
    assert result.returncode == 2

    result = run_awa("--database-url", database_url, "queue", "stats", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)[0]["failed"] == 1


def test_subprocess_never_prints_the_password(database_url) -> None:
    secret = "hunter2-secret"
    with_password = psycopg.conninfo.make_conninfo(database_url, password=secret)
    result = run_awa("--database-url", with_password, "health")
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    assert "reachable" in result.stdout

    unreachable = f"postgresql://someone:{secret}@127.0.0.1:1/nothing"
    result = run_awa("--database-url", unreachable, "job", "list")
    assert result.returncode == 5
    assert secret not in result.stdout + result.stderr
    assert "awa: error:" in result.stderr
