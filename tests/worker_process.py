"""A real ``awa worker MODULE:client`` process for the multi-process tests.

``ready()`` waits for its start line; ``stop()`` signals it and waits;
``close()`` kills what is left. Its stderr is kept in ``lines``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class WorkerProcess:
    def __init__(
        self, app: str, url: str, *args: str, env: Mapping[str, str] | None = None
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "awa.cli.main", "worker", app, *args],
            cwd=ROOT,
            env={**os.environ, **(env or {}), "DATABASE_URL": url, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if "worker ready" in line:
                self._ready.set()

    def ready(self, timeout: float = 60) -> WorkerProcess:
        if not self._ready.wait(timeout):
            raise AssertionError("worker did not start:\n" + "".join(self.lines[-50:]))
        return self

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def send_signal(self, sig: int) -> None:
        if self.alive:
            self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.send_signal(signal.SIGCONT)  # a stopped process cannot handle sig
        self.send_signal(sig)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(30)
        self._reader.join(10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
