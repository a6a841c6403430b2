"""The TLA+ models under spec/ give the outcome spec/suite.toml expects.

TLC runs once for the whole manifest (``tools/run_tlc.py --json``, about a
minute and a half); each manifest row is then one test.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tools" / "run_tlc.py"
MANIFEST = ROOT / "spec" / "suite.toml"

pytestmark = [pytest.mark.tlc, pytest.mark.slow, pytest.mark.timeout(900)]


def _rows() -> list[dict[str, Any]]:
    return list(tomllib.loads(MANIFEST.read_text(encoding="utf-8"))["run"])


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("awa_run_tlc", RUNNER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def suite() -> dict[tuple[str, str], dict[str, Any]]:
    runner = _runner()
    try:
        runner.find_tools()
    except runner.ToolsMissing as exc:
        pytest.skip(f"TLC cannot run here: {exc}")
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"run_tlc.py printed no JSON (exit {proc.returncode}):\n{proc.stderr}")
    if report.get("error"):
        pytest.fail(f"run_tlc.py: {report['error']}")
    return {(r["module"], r["cfg"]): r for r in report["results"]}


@pytest.mark.parametrize("row", _rows(), ids=lambda row: row["cfg"].removesuffix(".cfg"))
def test_model_outcome(suite: dict[tuple[str, str], dict[str, Any]], row: dict[str, Any]) -> None:
    result = suite[(row["module"], row["cfg"])]
    assert result["expect"] == row["expect"]
    if row["expect"] == "pass":
        assert result["got"] == "pass", result["detail"]
        assert result["distinct_states"], "TLC explored no state"
    else:
        assert result["got"] == "violation", f"expected a counterexample: {result['detail']}"
        if "violates" in row:
            assert result["violated"] == row["violates"]
    assert result["ok"], result["detail"]


def test_broken_configs_are_the_failing_ones() -> None:
    for row in _rows():
        assert ("Broken" in row["cfg"]) == (row["expect"] == "violation"), row["cfg"]
        assert row["cfg"].startswith(Path(row["module"]).stem), row["cfg"]


def test_every_config_is_in_the_manifest() -> None:
    listed = {(Path(r["module"]).parent / r["cfg"]).as_posix() for r in _rows()}
    on_disk = {p.relative_to(MANIFEST.parent).as_posix() for p in MANIFEST.parent.rglob("*.cfg")}
    assert on_disk == listed
