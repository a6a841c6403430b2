from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import awa
import awa.errors
import awa.schema

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_MODULES = (awa, awa.errors, awa.schema)


def test_every_public_module_has_a_tuple_all() -> None:
    for module in PUBLIC_MODULES:
        assert isinstance(module.__all__, tuple), module.__name__
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_public_names_live_in_public_modules() -> None:
    for name in awa.__all__:
        obj = getattr(awa, name)
        home = getattr(obj, "__module__", "awa")
        if isinstance(obj, str | int):
            continue
        assert home.startswith("awa"), f"{name}: {home}"
        assert not home.startswith("awa._"), f"{name}: {home}"


def test_errors_share_one_root() -> None:
    for name in awa.errors.__all__:
        assert issubclass(getattr(awa.errors, name), awa.AwaError)
        assert getattr(awa, name) is getattr(awa.errors, name)


def test_sync_twins_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, "tools/async_to_sync.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sync_client_mirrors_every_public_async_method() -> None:
    async_methods = {n for n in dir(awa.AsyncClient) if not n.startswith("_")}
    sync_methods = {n for n in dir(awa.Client) if not n.startswith("_")}
    assert async_methods == sync_methods
