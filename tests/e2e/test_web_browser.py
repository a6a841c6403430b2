"""The web UI in a real headless Chromium (Debian's ``chromium`` package,
driven by Playwright): every page loads, jobs filter, a failed job is retried,
a queue is paused, the token login works, and ``awa demo``'s pages show its
data. Screenshots go to test-artifacts/browser/.

Skipped, with the reason, only when chromium (or the playwright package) is
missing: ``apt-get install -y chromium``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import awa
from tests.helpers import SendEmail, force_failed

pytestmark = [pytest.mark.pg, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("AWA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "browser-test-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """An ``awa serve`` (or ``awa demo``) process; ``url`` once it listens."""

    def __init__(self, database_url: str, *argv: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "awa.cli.main", *argv, "--port", str(self.port)],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": database_url, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._listening.wait(60):
            self.close()
            raise AssertionError("the server did not start:\n" + "".join(self.lines))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
            if "Running on" in line:
                self._listening.set()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        """Until the process prints a line containing ``text``."""
        with self._changed:
            if not self._changed.wait_for(lambda: any(text in x for x in self.lines), timeout):
                raise AssertionError(f"no line with {text!r}:\n" + "".join(self.lines))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM}: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed: pip install -e '.[dev]'")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(msg: Any) -> None:
        # A wrong token's 401 is the page working; anything else (CSP refusals,
        # missing resources) is a defect.
        if msg.type == "error" and "status of 401" not in msg.text:
            errors.append(msg.text)

    tab.on("console", on_console)
    try:
        yield tab
    finally:
        context.close()
    assert errors == [], errors  # no script errors, no CSP violations


@pytest.fixture
def serve(database_url: str) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(*argv: str, env: dict[str, str] | None = None) -> Server:
        server = Server(database_url, *argv, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def shot(tab: Any, name: str) -> None:
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def seeded(sync_client: awa.Client, db: psycopg.Connection[Any]) -> dict[str, Any]:
    emails = sync_client.insert_many([SendEmail(f"user{i}@example.com", "hi") for i in range(8)])
    report = sync_client.insert({"day": "monday"}, kind="build_report", queue="reports")
    failed = emails.ids[0]
    db.execute(
        "UPDATE awa.jobs_hot SET attempt = 3, errors = %s WHERE id = %s",
        (
            '[{"attempt": 3, "at": "2026-01-01T00:00:00+00:00", "type": "SMTPError",'
            ' "message": "mailbox unavailable"}]',
            failed,
        ),
    )
    force_failed(db, failed)
    sync_client.periodic("nightly", "0 3 * * *", SendEmail, SendEmail("ops", "report"))
    sync_client.sync_periodic()
    return {"failed": failed, "report": report.id, "emails": list(emails.ids)}


def test_every_page_loads(page: Any, serve: Callable[..., Server], seeded: dict[str, Any]) -> None:
    server = serve("serve")
    page.goto(server.url + "/")
    assert page.title() == "Dashboard · awa"
    assert page.locator("#state-counts .card").count() == len(awa.JobState)
    assert page.locator("svg.chart g.bar").count() == 60
    assert page.locator("#recent-failures").inner_text().count("mailbox unavailable") == 1
    shot(page, "dashboard")
    for link, heading, name in [
        ("Jobs", "Jobs", "jobs"),
        ("Queues", "Queues", "queues"),
        ("Cron", "Cron schedules", "cron"),
        ("Runtime", "Worker processes", "runtime"),
    ]:
        page.get_by_role("link", name=link, exact=True).click()
        assert page.locator("h1").inner_text() == heading
        shot(page, name)
    page.goto(server.url + f"/jobs/{seeded['failed']}")
    assert page.locator("#errors").inner_text().count("SMTPError") == 1
    assert "failed" in page.locator("#timeline").inner_text()
    shot(page, "job-detail")
    assert page.locator("[data-schedule=nightly]").count() == 0  # not on this page
    page.goto(server.url + "/cron")
    assert page.locator("[data-schedule=nightly]").count() == 1
    page.locator("[data-schedule=nightly]").get_by_role("button", name="Pause").click()
    page.wait_for_load_state()
    assert page.locator("[data-schedule=nightly] .badge").inner_text() == "paused"
    page.locator("[data-schedule=nightly]").get_by_role("button", name="Trigger now").click()
    page.wait_for_load_state()
    assert page.locator("[data-schedule=nightly] .badge").inner_text() == "paused"
    shot(page, "cron-paused-triggered")
    page.goto(server.url + "/jobs?kind=send_email&q=ops")
    assert page.locator("#jobs tbody tr").count() == 1  # the triggered job


def test_filter_jobs(page: Any, serve: Callable[..., Server], seeded: dict[str, Any]) -> None:
    server = serve("serve")
    page.goto(server.url + "/jobs")
    assert page.locator("#jobs tbody tr").count() == 9
    page.select_option("#filter-state", "failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/jobs?state=failed*")
    rows = page.locator("#jobs tbody tr")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-job-id") == str(seeded["failed"])
    shot(page, "jobs-filtered-failed")

    page.select_option("#filter-state", "")
    page.select_option("#filter-queue", "reports")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**queue=reports*")
    assert page.locator("#jobs tbody tr").count() == 1
    page.fill("#filter-q", "user3@")
    page.select_option("#filter-queue", "")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**q=user3*")
    assert page.locator("#jobs tbody tr").count() == 1
    assert page.locator("#jobs tbody tr").first.get_attribute("data-job-id") == str(
        seeded["emails"][3]
    )
    shot(page, "jobs-searched")


def test_retry_a_failed_job(
    page: Any, serve: Callable[..., Server], seeded: dict[str, Any], sync_client: awa.Client
) -> None:
    server = serve("serve")
    page.goto(server.url + "/jobs?state=failed")
    page.locator(f"#jobs a[href='/jobs/{seeded['failed']}']").click()
    assert page.locator("h1 .state").inner_text() == "failed"
    page.get_by_role("button", name="Retry now").click()
    page.wait_for_load_state()
    assert page.locator("h1 .state").inner_text() == "available"
    shot(page, "job-retried")
    job = sync_client.get_job(seeded["failed"])
    assert job.state is awa.JobState.AVAILABLE
    assert job.attempt == 0


def test_retry_every_failed_job_of_a_queue(
    page: Any, serve: Callable[..., Server], seeded: dict[str, Any], db: psycopg.Connection[Any]
) -> None:
    for job_id in seeded["emails"][1:4]:
        force_failed(db, job_id)
    server = serve("serve")
    page.goto(server.url + "/jobs?state=failed&queue=default")
    assert page.locator("#jobs tbody tr").count() == 4
    page.locator("#retry-all-failed").click()
    page.wait_for_load_state()
    assert page.locator("#no-jobs").is_visible()
    shot(page, "jobs-retried-all")
    assert db.execute("SELECT count(*) AS n FROM awa.jobs_failed").fetchone()["n"] == 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_pause_a_queue(
    page: Any,
    serve: Callable[..., Server],
    seeded: dict[str, Any],
    sync_client: awa.Client,
    backend: str,
) -> None:
    server = serve("serve", "--backend", backend)
    page.goto(server.url + "/queues")
    row = page.locator("tr[data-queue=reports]")
    assert row.locator(".badge").inner_text() == "active"
    row.get_by_role("button", name="Pause").click()
    page.wait_for_load_state()
    row = page.locator("tr[data-queue=reports]")
    assert row.locator(".badge").inner_text() == "paused"
    shot(page, f"queue-paused-{backend}")
    assert {s.queue: s.paused for s in sync_client.queue_stats()}["reports"] is True
    row.get_by_role("button", name="Resume").click()
    page.wait_for_load_state()
    assert page.locator("tr[data-queue=reports] .badge").inner_text() == "active"


def test_read_only_and_token_login(
    page: Any, serve: Callable[..., Server], seeded: dict[str, Any]
) -> None:
    server = serve("serve", "--read-only", env={"AWA_UI_TOKEN": TOKEN})
    page.goto(server.url + "/queues")
    page.wait_for_url("**/login?next=%2Fqueues")
    page.fill("input[name=token]", "wrong-token")
    page.get_by_role("button", name="Log in").click()
    assert page.locator("#login-failed").is_visible()
    page.fill("input[name=token]", TOKEN)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/queues")
    assert page.locator("#read-only-badge").is_visible()
    assert page.locator("tr[data-queue=reports] button").first.is_disabled()
    shot(page, "read-only")


def test_demo_pages_show_the_demo(page: Any, serve: Callable[..., Server]) -> None:
    server = serve("demo", "--emails", "5")
    server.wait_for("FAIL   charge_card")
    server.wait_for("done   build_report")
    page.goto(server.url + "/jobs?kind=charge_card")
    assert page.locator("#jobs tr[data-state=failed]").count() == 1
    shot(page, "demo-jobs")
    page.goto(server.url + "/")
    assert "awa demo" in page.title()
    assert "card of alice declined" in page.locator("#recent-failures").inner_text()
    assert page.locator("#queues tr[data-queue=email]").count() == 1
    shot(page, "demo-dashboard")
    page.goto(server.url + "/cron")
    assert page.locator("[data-schedule=daily_report]").count() == 1
    page.goto(server.url + "/runtime")
    assert page.locator("#instances .badge.active").count() == 1
    shot(page, "demo-runtime")
    page.goto(server.url + "/queues")
    assert page.locator("#queues tr[data-queue=payments]").count() == 1
