"""Run every scenario for awa and its peers in one go; print ratios.

    python -m benchmarks.compare --quick            # CI-sized, a few minutes
    python -m benchmarks.compare                    # the full profile
    python -m benchmarks.compare --only awa-asyncio,pgqueuer --scenarios drain,pickup

Each peer is installed from PyPI into its own virtual environment under
``benchmarks/.cache/venvs`` (pinned versions, below) and driven by a small
adapter script in ``benchmarks/adapters``; awa and the raw-SQL floor run in the
current environment. Every (library, scenario) pair gets a fresh database on
the server of ``$DATABASE_URL``, dropped afterwards. Results go to
``benchmarks/.cache/results/<stamp>.jsonl`` and ``.md`` and the Markdown is
printed. The machine may be shared: compare ratios from one run, not absolute
numbers across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.databases import drop_database, fresh_database

HERE = Path(__file__).resolve().parent
ADAPTERS = HERE / "adapters"
CACHE = HERE / ".cache"
COMMON = ["anyio==4.*", "psycopg[binary]==3.*"]


@dataclass(frozen=True)
class Library:
    name: str
    script: str
    packages: tuple[str, ...] = ()  # empty: runs in this interpreter
    args: tuple[str, ...] = ()
    min_python: tuple[int, int] = (3, 11)
    scenarios: frozenset[str] | None = None  # None: all
    peer: bool = True


LIBRARIES = (
    Library("awa-asyncio", "awa_adapter.py", args=("--backend", "asyncio"), peer=False),
    Library("awa-trio", "awa_adapter.py", args=("--backend", "trio"), peer=False),
    Library("pgqueuer", "pgqueuer_adapter.py", ("pgqueuer==1.6.0", "asyncpg==0.32.0")),
    Library("procrastinate", "procrastinate_adapter.py", ("procrastinate==3.10.0",)),
    Library("chancy", "chancy_adapter.py", ("chancy==0.26.0",)),
    Library("oban", "oban_adapter.py", ("oban==0.7.0",), min_python=(3, 12)),
    Library("bare-skip-locked", "bare_adapter.py", ("asyncpg==0.32.0",)),
    Library(
        "raw-sql",
        "raw_adapter.py",
        scenarios=frozenset({"single_insert", "batch_insert", "drain"}),
    ),
)
PEERS = ("pgqueuer", "procrastinate", "chancy", "oban")


@dataclass(frozen=True)
class Step:
    label: str
    scenario: str
    args: tuple[str, ...] = field(default=())


def plan(quick: bool) -> list[Step]:
    if quick:
        return [
            Step("single_insert", "single_insert", ("--size", "1000")),
            Step("batch_insert", "batch_insert", ("--size", "5000")),
            Step("drain", "drain", ("--size", "3000")),
            Step("pickup", "pickup", ("--size", "50")),
            Step("steady", "steady", ("--rate", "200", "--seconds", "5")),
            Step("idle", "idle", ("--seconds", "5")),
            Step("memory", "memory", ("--size", "1000")),
            Step("producers", "producers", ("--size", "8000")),
        ]
    return [
        Step("single_insert", "single_insert", ("--size", "10000")),
        Step("batch_insert", "batch_insert", ("--size", "50000")),
        Step("drain", "drain", ("--size", "20000")),
        Step("drain_100k", "drain", ("--size", "100000")),
        Step("pickup", "pickup", ("--size", "200")),
        Step("steady", "steady", ("--rate", "2000", "--seconds", "60")),
        Step("idle", "idle", ("--seconds", "10")),
        Step("memory", "memory", ("--size", "10000")),
        Step("producers", "producers", ("--size", "40000")),
    ]


# -- environments ---------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def find_python(minimum: tuple[int, int]) -> str | None:
    if sys.version_info[:2] >= minimum:
        return sys.executable
    names = [f"python3.{minor}" for minor in range(14, minimum[1] - 1, -1)]
    candidates = [shutil.which(name) for name in names]
    pyenv = Path.home() / ".pyenv" / "versions"
    if pyenv.is_dir():
        candidates += [str(p / "bin" / "python3") for p in sorted(pyenv.iterdir(), reverse=True)]
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print(*sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout.split()
        except (OSError, subprocess.SubprocessError):
            continue
        if tuple(map(int, out)) >= minimum:
            return candidate
    return None


def environment(lib: Library) -> str:
    """The interpreter to run ``lib``'s adapter with; raises RuntimeError when
    it cannot be installed (the message says why)."""
    if not lib.packages:
        return sys.executable
    venv = CACHE / "venvs" / lib.name
    python = venv / "bin" / "python"
    wanted = "\n".join([*lib.packages, *COMMON])
    stamp = venv / ".installed"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return str(python)
    base = find_python(lib.min_python)
    if base is None:
        raise RuntimeError(f"needs Python >= {'.'.join(map(str, lib.min_python))}, none found")
    shutil.rmtree(venv, ignore_errors=True)
    log(f"installing {lib.name} ({', '.join(lib.packages)}) into {venv}")
    logfile = CACHE / "logs" / f"install-{lib.name}.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with logfile.open("w") as out:
        steps = [
            [base, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", *lib.packages, *COMMON],
        ]
        for command in steps:
            if subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode:
                tail = logfile.read_text().strip().splitlines()[-3:]
                raise RuntimeError(f"install failed: {' | '.join(tail)}")
    stamp.write_text(wanted)
    return str(python)


# -- databases ------------------------------------------------------------------


def server_version(admin_url: str) -> str:
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


# -- running --------------------------------------------------------------------


def run_step(
    python: str, lib: Library, step: Step, admin_url: str, timeout: float
) -> dict[str, Any]:
    name, url = fresh_database(admin_url)
    command = [
        python,
        str(ADAPTERS / lib.script),
        "--scenario",
        step.scenario,
        "--url",
        url,
        "--admin-url",
        admin_url,
        *lib.args,
        *step.args,
    ]
    base: dict[str, Any] = {"library": lib.name, "scenario": step.label}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timed out after {timeout:.0f} s"}
    finally:
        drop_database(admin_url, name)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {**base, "error": f"exit {done.returncode}: {tail[:300]}"}
    result = json.loads(lines[-1])
    return {**result, **base}


def run_all(
    libraries: Iterable[Library],
    steps: list[Step],
    admin_url: str,
    timeout: float,
    sink: Any,
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []

    def emit(row: dict[str, Any]) -> None:
        results.append(row)
        sink.write(json.dumps(row) + "\n")
        sink.flush()

    # Scenario by scenario, every library in turn: on a shared machine the
    # load drifts, and libraries compared in one scenario should meet the
    # same load.
    pythons: dict[str, str] = {}
    for lib in libraries:
        try:
            pythons[lib.name] = environment(lib)
        except RuntimeError as exc:
            log(f"{lib.name}: {exc}")
            emit({"library": lib.name, "scenario": "install", "error": str(exc)})
    for step in steps:
        for lib in libraries:
            python = pythons.get(lib.name)
            if python is None:
                continue
            if lib.scenarios is not None and step.scenario not in lib.scenarios:
                continue
            slow = too_slow(results, lib.name, step)
            if slow:
                emit({"library": lib.name, "scenario": step.label, "skipped": slow})
                continue
            started = time.monotonic()
            row = run_step(python, lib, step, admin_url, timeout)
            log(f"{lib.name:18} {step.label:14} {time.monotonic() - started:6.1f} s  {brief(row)}")
            emit(row)
    return results


def too_slow(results: list[dict[str, Any]], library: str, step: Step) -> str | None:
    """Why ``step`` is skipped: a long drain for a library whose short drain
    already ran below 1,000 jobs/s (it would take minutes)."""
    if step.label != "drain_100k":
        return None
    short = next((r for r in results if r["library"] == library and r["scenario"] == "drain"), None)
    if short is None or "error" in short:
        return None
    rate = short.get("jobs_per_s") or 0
    return None if rate >= 1000 else f"drain ran {rate}/s (< 1,000/s)"


def brief(row: dict[str, Any]) -> str:
    if "error" in row:
        return "ERROR " + row["error"]
    if "skipped" in row:
        return "skipped: " + row["skipped"]
    keys = ("jobs_per_s", "p50_ms", "p99_ms", "cpu_percent", "db_xacts_per_s", "kb_per_job")
    return " ".join(f"{k}={row[k]}" for k in keys if row.get(k) is not None)


# -- reporting ------------------------------------------------------------------

#: (column, scenario label, field, higher is better)
METRICS = (
    ("single insert/s", "single_insert", "jobs_per_s", True),
    ("batch insert/s", "batch_insert", "jobs_per_s", True),
    ("drain/s", "drain", "jobs_per_s", True),
    ("drain 100k/s", "drain_100k", "jobs_per_s", True),
    ("pickup p50 ms", "pickup", "p50_ms", False),
    ("pickup p95 ms", "pickup", "p95_ms", False),
    ("pickup p99 ms", "pickup", "p99_ms", False),
    ("steady p99 ms", "steady", "p99_ms", False),
    ("idle CPU %", "idle", "cpu_percent", False),
    ("idle xacts/s", "idle", "db_xacts_per_s", False),
    ("idle RSS MB", "idle", "idle_rss_mb", False),
    ("KB/in-flight job", "memory", "kb_per_job", False),
    ("4 producers/s", "producers", "jobs_per_s", True),
)


def index(results: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["library"], r["scenario"]): r for r in results}


def value(by: dict[tuple[str, str], dict[str, Any]], lib: str, label: str, key: str) -> Any:
    row = by.get((lib, label))
    if row is None or "error" in row or "skipped" in row:
        return None
    return row.get(key)


def cell(by: dict[tuple[str, str], dict[str, Any]], lib: str, label: str, key: str) -> str:
    row = by.get((lib, label))
    if row is None:
        return "—"
    if "error" in row:
        return "error"
    if "skipped" in row:
        return "skipped"
    v = row.get(key)
    if v is None:
        return "—"
    if label == "steady" and row.get("completed", 0) < row.get("jobs", 0):
        return f"{v} ({row['completed']}/{row['jobs']} done)"
    if label == "memory" and not row.get("all_reached", True):
        return f"{v} ({row['inflight_reached']} in flight)"
    return f"{v:,}" if isinstance(v, int) else str(v)


def ratio(a: Any, b: Any) -> str:
    if not a or not b:
        return "—"
    return f"{a / b:.2f}"


def markdown(results: list[dict[str, Any]], header: dict[str, Any]) -> str:
    by = index(results)
    libs = list(dict.fromkeys(r["library"] for r in results))
    labels = {r["scenario"] for r in results}
    metrics = [m for m in METRICS if m[1] in labels]
    out = [
        f"Run {header['stamp']} ({header['mode']}), PostgreSQL {header['postgres']}, "
        f"Python {header['python']}, {header['cpus']} CPUs.",
        "",
        "| library | version | " + " | ".join(m[0] for m in metrics) + " |",
        "| --- | --- | " + " | ".join("---" for _ in metrics) + " |",
    ]
    for lib in libs:
        version = next((r.get("version") for r in results if r["library"] == lib), None) or ""
        installed = by.get((lib, "install"))
        if installed is not None:
            out.append(f"| {lib} | not installed: {installed['error']} |")
            continue
        cells = [cell(by, lib, m[1], m[2]) for m in metrics]
        out.append(f"| {lib} | {version} | " + " | ".join(cells) + " |")
    others = [lib for lib in libs if not lib.startswith("awa-") and (lib, "install") not in by]
    for awa_lib in (lib for lib in libs if lib.startswith("awa-")):
        out += [
            "",
            f"Ratios {awa_lib} ÷ other (throughput: above 1 is better; "
            "latency, CPU, transactions, memory: below 1 is better):",
            "",
            "| metric | " + " | ".join(others) + " |",
            "| --- | " + " | ".join("---" for _ in others) + " |",
        ]
        for column, label, key, _higher in metrics:
            mine = value(by, awa_lib, label, key)
            out.append(
                f"| {column} | "
                + " | ".join(ratio(mine, value(by, o, label, key)) for o in others)
                + " |"
            )
    out += ["", "Targets (awa-asyncio unless named):", ""]
    out += [f"- {line}" for line in targets(by)]
    return "\n".join(out) + "\n"


def targets(by: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    lines: list[str] = []

    def check(text: str, measured: float | None, ok: bool | None) -> None:
        if measured is None or ok is None:
            lines.append(f"{text}: not measured")
        else:
            lines.append(f"{text}: {measured:.2f} — {'met' if ok else 'NOT met'}")

    def rel(lib: str, label: str, key: str, other: str) -> float | None:
        a, b = value(by, lib, label, key), value(by, other, label, key)
        return a / b if a and b else None

    aa = "awa-asyncio"
    for other, goal in (("pgqueuer", 2.0), ("procrastinate", 15.0)):
        r = rel(aa, "drain", "jobs_per_s", other)
        check(f"drain >= {goal}x {other}", r, None if r is None else r >= goal)
    r = rel("awa-trio", "drain", "jobs_per_s", aa)
    check("trio drain >= 0.8x asyncio", r, None if r is None else r >= 0.8)
    r = rel(aa, "batch_insert", "jobs_per_s", "pgqueuer")
    check("batch insert >= 1.5x pgqueuer", r, None if r is None else r >= 1.5)
    r = rel(aa, "single_insert", "jobs_per_s", "raw-sql")
    check("single insert >= 0.8x raw psycopg loop", r, None if r is None else r >= 0.8)
    peers50 = [value(by, p, "pickup", "p50_ms") for p in PEERS]
    peers99 = [value(by, p, "pickup", "p99_ms") for p in PEERS]
    best50 = min((v for v in peers50 if v), default=None)
    best99 = min((v for v in peers99 if v), default=None)
    mine50, mine99 = value(by, aa, "pickup", "p50_ms"), value(by, aa, "pickup", "p99_ms")
    r = mine50 / best50 if mine50 and best50 else None
    check("pickup p50 <= 0.5x best peer's (ratio shown)", r, None if r is None else r <= 0.5)
    r = rel(aa, "pickup", "p50_ms", "bare-skip-locked")
    check("pickup p50 near the bare queue's (ratio shown)", r, None if r is None else r <= 1.5)
    r = mine99 / best99 if mine99 and best99 else None
    check("pickup p99 <= best peer's (ratio shown)", r, None if r is None else r <= 1.0)
    for text, label, key, limit in (
        ("idle DB xacts/s <= 1", "idle", "db_xacts_per_s", 1.0),
        ("idle worker CPU <= 0.5 %", "idle", "cpu_percent", 0.5),
        ("idle worker RSS <= 100 MB", "idle", "idle_rss_mb", 100.0),
        ("<= 20 KB per in-flight job", "memory", "kb_per_job", 20.0),
    ):
        v = value(by, aa, label, key)
        check(text, v, None if v is None else v <= limit)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    parser.add_argument("--only", help="comma-separated libraries")
    parser.add_argument("--scenarios", help="comma-separated scenario labels")
    parser.add_argument("--timeout", type=float, default=900.0, help="per scenario, seconds")
    parser.add_argument("--out", type=Path, default=CACHE / "results")
    options = parser.parse_args(argv)
    # A terminated run still drops its databases (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    admin_url = os.environ.get("DATABASE_URL")
    if not admin_url:
        parser.error("set DATABASE_URL to a server where databases may be created")
    libraries = list(LIBRARIES)
    if options.only:
        wanted = options.only.split(",")
        unknown = set(wanted) - {lib.name for lib in LIBRARIES}
        if unknown:
            parser.error(f"unknown libraries: {', '.join(sorted(unknown))}")
        libraries = [lib for lib in LIBRARIES if lib.name in wanted]
    steps = plan(options.quick)
    if options.scenarios:
        keep = options.scenarios.split(",")
        steps = [s for s in steps if s.label in keep]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    header = {
        "stamp": stamp,
        "mode": "quick" if options.quick else "full",
        "postgres": server_version(admin_url),
        "python": ".".join(map(str, sys.version_info[:3])),
        "cpus": os.cpu_count(),
    }
    options.out.mkdir(parents=True, exist_ok=True)
    jsonl = options.out / f"{stamp}.jsonl"
    with jsonl.open("w") as sink:
        sink.write(json.dumps({"run": header}) + "\n")
        results = run_all(libraries, steps, admin_url, options.timeout, sink)
    report = markdown(results, header)
    (options.out / f"{stamp}.md").write_text(report)
    print(report)
    log(f"results: {jsonl}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
