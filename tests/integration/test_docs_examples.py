"""The Python code blocks of the README (and docs/) run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)

pytestmark = pytest.mark.pg


def python_blocks() -> list[tuple[str, int, str]]:
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        if not path.exists():
            continue
        text = path.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((str(path.relative_to(ROOT)), line, match[1]))
    return found


@pytest.mark.parametrize(("path", "line", "code"), python_blocks(), ids=lambda v: str(v)[:40])
def test_code_block_runs(path: str, line: int, code: str, database_url: str, tmp_path) -> None:
    if "# doc-test: skip" in code:
        pytest.skip("block marked as not runnable on its own")
    script = tmp_path / "block.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, f"{path}:{line}\n{result.stdout}\n{result.stderr}"
