"""Real processes for the fault tests: gunicorn and django-q2's cluster as subprocesses on
the test database, and a second, plain connection to that database for the test's own
levers (advisory locks, ``pg_terminate_backend``).

A child process reaches the test database the way ``clinic/tests/test_logging.py`` shows:
over TCP, or through the embedded server's socket directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import requests
from django.db import connection

from clinic.tests.test_logging import database_url, free_port

ROOT = Path(__file__).resolve().parents[3]


def child_env(**extra: str) -> dict[str, str]:
    """A production-like environment (DEBUG off) on the test database."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "API_RATE_LIMIT": "1000000/m",
        **extra,
    }
    env.pop("PYTEST_VERSION", None)  # a child is not a test run: production settings apply
    return env


def control_connection() -> psycopg.Connection:
    """A connection of the test's own, outside Django, in autocommit."""
    return psycopg.connect(database_url(connection.settings_dict), autocommit=True)


class Gunicorn:
    """``gunicorn -c gunicorn.conf.py clinic.wsgi -w N`` on a free port; logs go to files (a
    pipe nobody reads would fill up and stall the workers)."""

    def __init__(self, logs: Path, workers: int, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self._out = (logs / "gunicorn.out").open("w")
        self._err = (logs / "gunicorn.err").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "clinic.wsgi"]
            + ["-w", str(workers), "-b", f"127.0.0.1:{self.port}", "--graceful-timeout", "5"],
            cwd=ROOT,
            env=child_env(**env),
            stdout=self._out,
            stderr=self._err,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.errors()
            try:
                requests.get(f"{self.url}/health", timeout=2)  # any answer: the server is up
                return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not answer within {timeout} s: {self.errors()}")

    def workers(self) -> list[int]:
        """The worker processes now alive: the master's children."""
        return children(self.process.pid)

    def stop(self) -> None:
        stop_process(self.process)
        self._out.close()
        self._err.close()

    def log(self) -> str:
        """What the master and the workers wrote to stderr (the JSON lines)."""
        self._err.flush()
        return (self.logs / "gunicorn.err").read_text()

    def errors(self) -> str:
        return self.log()[-4000:]


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return sorted(found)


def stop_process(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it does not end in time; its children with it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            for child in children(process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            process.kill()
            process.wait(10)


@contextlib.contextmanager
def gunicorn(logs: Path, workers: int = 1, **env: str) -> Iterator[Gunicorn]:
    server = Gunicorn(logs, workers, **env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
