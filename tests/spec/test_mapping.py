"""spec/MAPPING.md stays true in both directions (spec actions <-> code <-> SQL)."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from awa._sql import Q

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec"
ROW = re.compile(r"^\| (\w+)!(\w+) \| (code|environment|model) \|([^|]*)\|([^|]*)\|\s*$")
SPEC_REF = re.compile(r"Spec: (\w+)!(\w+)")
DEFINITION = re.compile(r"^(\w+)(?:\([^)]*\))? ==", re.MULTILINE)


def mapping_rows() -> list[tuple[str, str, str, list[str], list[str]]]:
    rows = []
    for line in (SPEC / "MAPPING.md").read_text().splitlines():
        match = ROW.match(line)
        if match:
            module, action, role, python, sql = match.groups()
            split = [p.strip() for p in python.split(",") if p.strip()]
            names = [q.strip() for q in sql.split(",") if q.strip()]
            rows.append((module, action, role, split, names))
    return rows


def module_source(module: str) -> str:
    (path,) = SPEC.rglob(f"{module}.tla")
    return path.read_text()


def definitions(source: str) -> dict[str, str]:
    """Each top-level operator's definition text."""
    found: dict[str, str] = {}
    matches = list(DEFINITION.finditer(source))
    for here, after in zip(matches, [*matches[1:], None], strict=True):
        end = after.start() if after else len(source)
        found[here.group(1)] = source[here.start() : end]
    return found


def actions(module: str) -> set[str]:
    """Operators that Next uses and that change variables (their body has a prime)."""
    defs = definitions(module_source(module))
    used = set(re.findall(r"\b([A-Z]\w*)\b", defs["Next"]))
    return {name for name in used if name in defs and "'" in defs[name] and name != "Next"}


def resolve(path: str) -> object:
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            target = getattr(target, attribute)
        return target
    raise ImportError(path)


ROWS = mapping_rows()
# spec/trace/ holds the trace-validation harness (it steps AwaCore's actions
# through a recorded trace); it models nothing of its own.
MODULES = sorted({p.stem for p in SPEC.rglob("*.tla") if p.parent.name != "trace"})


def test_every_module_is_mapped() -> None:
    assert {m for m, *_ in ROWS} == set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_every_action_of_next_is_mapped(module: str) -> None:
    listed = {action for m, action, *_ in ROWS if m == module}
    assert sorted(actions(module) - listed) == []


@pytest.mark.parametrize(("module", "action", "role", "python", "sql"), ROWS, ids=lambda v: str(v))
def test_each_row_names_things_that_exist(module, action, role, python, sql) -> None:
    assert action in definitions(module_source(module)), f"{module}!{action} is not defined"
    if role != "code":
        assert not python, f"{module}!{action}: a {role} action names no code"
        return
    assert python, f"{module}!{action}: code action without a function"
    for name in sql:
        assert name in Q, f"{module}!{action}: no SQL query named {name}"
    for path in python:
        source = inspect.getsource(resolve(path))  # type: ignore[arg-type]
        assert f"Spec: {module}!{action}" in source, f"{path} does not say Spec: {module}!{action}"


def test_every_spec_reference_in_the_code_is_mapped() -> None:
    listed = {(m, a) for m, a, *_ in ROWS}
    for path in (ROOT / "awa").rglob("*.py"):
        for module, action in SPEC_REF.findall(path.read_text()):
            assert module in MODULES, f"{path}: no spec module {module}"
            assert action in definitions(module_source(module)), f"{path}: {module}!{action}?"
            assert (module, action) in listed, f"{path}: {module}!{action} not in MAPPING.md"
