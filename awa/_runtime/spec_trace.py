"""Spec traces: one NDJSON line per TLA+ action, written after its commit.

Off by default (``emit`` is then a no-op). Turn on with the runtime option
``emit_spec_trace=PATH`` or ``$AWA_SPEC_TRACE``; lines are appended, so several
processes may share a file. Action names are those of ``spec/core/AwaCore.tla``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

ENV = "AWA_SPEC_TRACE"


class SpecTrace:
    def __init__(self, path: str | None = None) -> None:
        self.path = path or os.environ.get(ENV) or None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def emit(self, action: str, **fields: Any) -> None:
        if self.path is None:
            return
        line = json.dumps({"action": action, "t": time.time(), "pid": os.getpid(), **fields})
        with self._lock, open(self.path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


_default = SpecTrace()


def default_trace() -> SpecTrace:
    """The process-wide trace (``$AWA_SPEC_TRACE`` as it is now), used by admin calls."""
    _default.path = os.environ.get(ENV) or None
    return _default
