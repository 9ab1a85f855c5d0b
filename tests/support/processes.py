"""Real ``trialwatch`` processes for tests: started with an environment, output in a file."""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tests.support.cli import ROOT
from tests.support.fakeapi import FakeCtgov
from tests.support.smtpserver import SmtpServer

SECRET = "a-test-secret-key-that-is-long-enough-0123456789"


def process_env(
    database_url: str, fake: FakeCtgov, smtp: SmtpServer, folder: Path, **extra: str
) -> dict[str, str]:
    """The environment of a process: fake API, loopback SMTP, one-second polling."""
    values = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    values.update(
        {
            "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
            "TRIALWATCH_DATABASE_URL": database_url,
            "TRIALWATCH_API_URL": fake.base_url,
            "TRIALWATCH_REQUESTS_PER_MINUTE": "0",
            "TRIALWATCH_SMTP_URL": smtp.url,
            "TRIALWATCH_SECRET_KEY": SECRET,
            "TRIALWATCH_STATE_DIR": str(folder),
            "TRIALWATCH_POLL_EVERY": "1s",
            "TRIALWATCH_LEASE_SECONDS": "3",
            "TRIALWATCH_LOG_FORMAT": "text",
            "TRIALWATCH_LOG_LEVEL": "INFO",
        }
    )
    values.update(extra)
    return values


def publish(fake: FakeCtgov, nct_id: str, status: str, stamp: str) -> None:
    """The registry's daily refresh: a record changes, and so does dataTimestamp."""
    record = copy.deepcopy(fake.get(nct_id))
    record["protocolSection"]["statusModule"]["overallStatus"] = status
    record["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {
        "date": stamp[:10],
        "type": "ACTUAL",
    }
    fake.put(record)
    fake.data_timestamp = stamp


class Process:
    """One ``trialwatch ARGS`` process (``prefix`` runs it under, e.g., faketime)."""

    def __init__(
        self,
        env: dict[str, str],
        folder: Path,
        name: str,
        args: Sequence[str] = ("run",),
        prefix: Sequence[str] = (),
    ) -> None:
        self.log = folder / f"{name}.log"
        self._out = self.log.open("w")
        self.process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "trialwatch", *args],
            env=env,
            cwd=folder,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # signals go to the group: faketime's child too
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, sig: int) -> None:
        """Send ``sig`` to the process group (a wrapper such as faketime and its child)."""
        os.killpg(self.process.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``sig`` and return the exit code (it must come within ``timeout``)."""
        self.send(sig)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._out.close()

    def kill(self) -> None:
        """SIGKILL the whole group (nothing of it outlives the test)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._out.close()

    def output(self) -> str:
        return self.log.read_text()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait until ``predicate()``; return the seconds it took (AssertionError on timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def count(engine: Engine, query: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
