"""Generate the sync twins of awa's async modules.

    python tools/async_to_sync.py          # regenerate
    python tools/async_to_sync.py --check  # fail if a generated file is stale

The transformation is syntactic (libcst, so comments survive): ``async def``,
``async with`` and ``async for`` lose ``async``, ``await x`` becomes ``x``,
names are renamed through ``RENAMES``, and a function preceded by a
``# async-only`` comment line is left out. A rename that no file uses is an
error, so the table stays honest. Output is formatted with ruff.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
from pathlib import Path

import libcst as cst

ROOT = Path(__file__).resolve().parent.parent

SOURCES = {
    "awa/_db/executor_async.py": "awa/_db/executor.py",
    "awa/_db/transaction_async.py": "awa/_db/transaction.py",
    "awa/client_async.py": "awa/client.py",
}

RENAMES = {
    "AsyncExitStack": "ExitStack",
    "enter_async_context": "enter_context",
    "AsyncClient": "Client",
    "AsyncExecutor": "Executor",
    "AsyncExecutorOpener": "ExecutorOpener",
    "AsyncTransactionHook": "TransactionHook",
    "AsyncIterator": "Iterator",
    "AsyncPool": "Pool",
    "AsyncRawCursor": "RawCursor",
    "AsyncTransaction": "Transaction",
    "AsyncWorkerMixin": "WorkerMixin",
    "AnyioConnection": "SyncConnection",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "aclose": "close",
    "asynccontextmanager": "contextmanager",
    "executor_async": "executor",
    "transaction_async": "transaction",
}

# Applied to the text of string literals (docstrings, __all__ entries).
_WORD = re.compile(r"\b(" + "|".join(sorted(RENAMES, key=len, reverse=True)) + r")\b")
_PHRASES = (
    ("(asyncio or trio)", "(blocking calls)"),
    ("async with await ", "with "),
    ("async with ", "with "),
    ("async for ", "for "),
    ("await ", ""),
)

BANNER = (
    "# WARNING: generated from {source} by tools/async_to_sync.py -- do not edit.\n"
    "# Edit the async source and regenerate.\n"
)


class _Unasync(cst.CSTTransformer):
    def __init__(self, used: set[str]) -> None:
        self.used = used

    def leave_FunctionDef(
        self, original: cst.FunctionDef, updated: cst.FunctionDef
    ) -> cst.FunctionDef | cst.RemovalSentinel:
        if any(
            line.comment is not None and "async-only" in line.comment.value
            for line in original.leading_lines
        ):
            return cst.RemovalSentinel.REMOVE
        return updated.with_changes(asynchronous=None)

    def leave_With(self, original: cst.With, updated: cst.With) -> cst.With:
        return updated.with_changes(asynchronous=None)

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.For:
        return updated.with_changes(asynchronous=None)

    def leave_Await(self, original: cst.Await, updated: cst.Await) -> cst.BaseExpression:
        return updated.expression.with_changes(
            lpar=updated.lpar or updated.expression.lpar,
            rpar=updated.rpar or updated.expression.rpar,
        )

    def leave_SimpleString(
        self, original: cst.SimpleString, updated: cst.SimpleString
    ) -> cst.SimpleString:
        value = _WORD.sub(lambda m: RENAMES[m[1]], updated.value)
        for old, new in _PHRASES:
            value = value.replace(old, new)
        return updated.with_changes(value=value)

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        new = RENAMES.get(updated.value)
        if new is None:
            return updated
        self.used.add(updated.value)
        return updated.with_changes(value=new)


def _ruff(args: list[str], text: str, filename: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--stdin-filename", filename, "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if result.returncode not in (0, 1) or not result.stdout:
        raise SystemExit(f"ruff {' '.join(args)} failed on {filename}:\n{result.stderr}")
    return result.stdout


def convert(source: str, text: str, used: set[str]) -> str:
    module = cst.parse_module(text).visit(_Unasync(used))
    out = BANNER.format(source=source) + module.code
    target = SOURCES[source]
    out = _ruff(["check", "--select", "I,F401", "--fix", "--exit-zero", "-q"], out, target)
    return _ruff(["format", "-q"], out, target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if outputs are stale")
    options = parser.parse_args()
    used: set[str] = set()
    stale: list[str] = []
    for source, target in SOURCES.items():
        generated = convert(source, (ROOT / source).read_text(encoding="utf-8"), used)
        path = ROOT / target
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if generated == current:
            continue
        if options.check:
            stale.append(target)
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    generated.splitlines(keepends=True),
                    target,
                    f"{target} (regenerated)",
                    n=1,
                )
            )
        else:
            path.write_text(generated, encoding="utf-8")
            print(f"wrote {target}")
    unused = sorted(set(RENAMES) - used)
    if unused:
        print(f"unused rename rules: {', '.join(unused)}", file=sys.stderr)
        return 1
    if stale:
        print(f"stale generated files: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
