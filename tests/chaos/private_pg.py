"""A private PostgreSQL server for fault injection: restartable, killable,
and never the shared server other tests use.

Binaries come from the system (``/usr/lib/postgresql/*/bin``) or the
``pgserver`` wheel. As root, the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg


def find_bin_dir() -> Path | None:
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(found, "pg_ctl").exists():
            return Path(found)
    try:
        import pgserver._commands as commands
    except ImportError:
        return None
    path = Path(commands.POSTGRES_BIN_PATH)
    return path if (path / "pg_ctl").exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostgres:
    """``initdb`` + ``pg_ctl`` on a free port, trust auth for ``root``."""

    def __init__(self, bin_dir: Path, *, settings: dict[str, str] | None = None) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="awa-private-pg-"))
        self.data = self.root / "data"
        self.settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            # A crash of PostgreSQL (not of the machine) keeps the OS page cache,
            # so fsync can be off. synchronous_commit must stay on: with it off
            # an immediate restart loses commits already acknowledged (the
            # suite caught admin cancels undone that way).
            "fsync": "off",
            "synchronous_commit": "on",
            "full_page_writes": "off",
            "max_connections": "200",
            **(settings or {}),
        }
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres"
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://root@127.0.0.1:{self.port}/postgres"

    def _run(self, name: str, *args: str, timeout: float = 60) -> None:
        kwargs: dict[str, Any] = {"user": self._user} if self._user else {}
        subprocess.run(
            [str(self.bin_dir / name), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            cwd=self.root,
            **kwargs,
        )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "root", "--auth=trust", "-E", "UTF8")
        with open(self.data / "postgresql.conf", "a") as conf:
            for key, value in self.settings.items():
                conf.write(f"{key} = {value}\n")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "start")

    def restart(self, mode: str = "fast") -> None:
        """Restart: every connection is cut, the server is back when it returns.

        ``fast`` shuts down cleanly (a checkpoint); ``immediate`` is a crash
        (no checkpoint; the server recovers from WAL as it starts).
        """
        try:
            self._run(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.root / "log"),
                "-m",
                mode,
                "-t",
                "120",
                "-w",
                "restart",
                timeout=150,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise AssertionError(f"pg_ctl restart failed ({exc}):\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 60) -> str:
        path = self.root / "log"
        return "\n".join(path.read_text().splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://root@127.0.0.1:{self.port}/{name}"
