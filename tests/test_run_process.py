"""`trialwatch run` as a real process: follows dataTimestamp, one leader, clean stops, catch-up."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.support.cli import run_cli
from tests.support.fakeapi import FakeCtgov
from tests.support.processes import process_env, publish
from tests.support.smtpserver import SmtpServer
from trialwatch.store.models import Change, Lease, Study, SyncRun

pytestmark = pytest.mark.slow

LEASE_SECONDS = 3
QUIET = 1.6  # seconds of watching for a duplicate: more than one poll (1 s)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def env(
    database_url: str,
    fake: FakeCtgov,
    smtp: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, str]:
    """The environment of every process: fake API, loopback SMTP, one-second polling."""
    values = process_env(database_url, fake, smtp, tmp_path)
    # The set-up runs in this process (a second each saved); the runners under test
    # are real processes.
    for key, value in values.items():
        if key.startswith("TRIALWATCH_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    for args in (
        ["init"],
        ["subscriber", "add", "ana@example.org", "-w", "mmn", "-f", "immediate"],
    ):
        code, _, err = run_cli(capsys, *args)
        assert code == 0, err
    return values


class Runner:
    """One `trialwatch run` process, its output in a file."""

    def __init__(self, env: dict[str, str], folder: Path, name: str) -> None:
        self.log = folder / f"{name}.log"
        self._out = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "trialwatch", "run"],
            env=env,
            cwd=folder,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``sig`` and return the exit code (it must come within ``timeout``)."""
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._out.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        self._out.close()

    def output(self) -> str:
        return self.log.read_text()


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _count(engine: Engine, query: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def _succeeded_runs(engine: Engine) -> int:
    return _count(
        engine, select(func.count()).select_from(SyncRun).where(SyncRun.status == "succeeded")
    )


def _no_run_left_running(engine: Engine) -> None:
    running = select(func.count()).select_from(SyncRun).where(SyncRun.status == "running")
    assert _count(engine, running) == 0


def test_run_follows_the_registry_mails_once_and_stops_cleanly(
    engine: Engine, env: dict[str, str], fake: FakeCtgov, smtp: SmtpServer, tmp_path: Path
) -> None:
    """Syncs at start; a new dataTimestamp with a change -> one digest; SIGTERM -> exit 0."""
    runner = Runner(env, tmp_path, "runner")
    try:
        _wait(lambda: _succeeded_runs(engine) >= 1, 30, "the first sync")
        _wait(lambda: len(smtp.messages) >= 1, 15, "the new-trials digest")
        first = len(smtp.messages)
        time.sleep(QUIET)  # more polls: the timestamp did not move, nothing is synced or sent
        assert _succeeded_runs(engine) == 1
        assert len(smtp.messages) == first
        publish(fake, "NCT05225675", "COMPLETED", "2026-11-30T09:00:00")
        _wait(lambda: len(smtp.messages) == first + 1, 20, "the digest of the change")
        time.sleep(QUIET)
        assert len(smtp.messages) == first + 1
        latest = smtp.messages[-1]
        assert list(latest.rcpt_tos) == ["ana@example.org"]
        assert "Completed" in latest.message.as_string()
        assert runner.stop() == 0, runner.output()
    finally:
        if runner.process.poll() is None:
            runner.kill()
    _no_run_left_running(engine)
    assert _count(engine, select(func.count()).select_from(Lease)) == 0  # released


def test_sigterm_during_a_sync_leaves_no_run_running(
    engine: Engine, env: dict[str, str], fake: FakeCtgov, tmp_path: Path
) -> None:
    """A stop in the middle of a slow sync: exit 0 within 10 s, the run is marked failed."""
    fake.drip_body(0.5, times=1, path_prefix="/api/v2/studies")
    runner = Runner(env, tmp_path, "runner")
    try:
        running = select(func.count()).select_from(SyncRun).where(SyncRun.status == "running")
        _wait(lambda: _count(engine, running) == 1, 30, "a sync in progress")
        started = time.monotonic()
        assert runner.stop() == 0, runner.output()
        assert time.monotonic() - started < 10
    finally:
        if runner.process.poll() is None:
            runner.kill()
    _no_run_left_running(engine)


def test_downtime_is_caught_up_once(
    engine: Engine, env: dict[str, str], fake: FakeCtgov, smtp: SmtpServer, tmp_path: Path
) -> None:
    """Stopped while two records change: on start both are recorded and mailed exactly once."""
    runner = Runner(env, tmp_path, "first")
    try:
        _wait(lambda: len(smtp.messages) >= 1, 30, "the first cycle's digest")
        assert runner.stop() == 0, runner.output()
    finally:
        if runner.process.poll() is None:
            runner.kill()
    before = len(smtp.messages)
    publish(fake, "NCT05225675", "COMPLETED", "2026-11-30T09:00:00")
    publish(fake, "NCT06537999", "TERMINATED", "2026-11-30T09:00:00")
    runner = Runner(env, tmp_path, "second")
    try:
        _wait(lambda: len(smtp.messages) > before, 30, "the catch-up digest")
        time.sleep(QUIET)
        assert len(smtp.messages) == before + 1
        text = smtp.messages[-1].message.as_string()
        assert "NCT05225675" in text
        assert "NCT06537999" in text
        assert runner.stop() == 0, runner.output()
    finally:
        if runner.process.poll() is None:
            runner.kill()
    status_changes = (
        select(func.count())
        .select_from(Change)
        .join(Study, Study.id == Change.study_id)
        .where(Change.kind.in_(["overall_status", "stopped"]))
    )
    assert _count(engine, status_changes) == 2


def test_a_stop_while_a_message_awaits_its_acknowledgement_sends_it_once(
    engine: Engine, env: dict[str, str], fake: FakeCtgov, smtp: SmtpServer, tmp_path: Path
) -> None:
    """SIGTERM while the server holds a digest's 250: the message is recorded as sent
    before the process stops, so the next run does not send it again."""
    smtp.acknowledge_slowly(1.5, times=1)
    runner = Runner(env, tmp_path, "first")
    try:
        _wait(lambda: len(smtp.messages) >= 1, 30, "the digest's data at the server")
        assert runner.stop() == 0, runner.output()  # while the server holds its reply
    finally:
        if runner.process.poll() is None:
            runner.kill()
    runner = Runner(env, tmp_path, "second")
    try:
        _wait(lambda: "cycle finished" in runner.output(), 30, "the second run's cycle")
        time.sleep(QUIET)
        assert len(smtp.messages) == 1, runner.output()
        assert runner.stop() == 0, runner.output()
    finally:
        if runner.process.poll() is None:
            runner.kill()


def test_two_runners_one_leader_and_a_standby_takes_over_after_kill_9(
    engine: Engine, env: dict[str, str], fake: FakeCtgov, smtp: SmtpServer, tmp_path: Path
) -> None:
    """Two processes, one database: one set of sync requests per bump; kill -9 -> standby."""
    if engine.dialect.name != "postgresql":
        pytest.skip("replicas share PostgreSQL; SQLite is for one process")
    runners = [Runner(env, tmp_path, "a"), Runner(env, tmp_path, "b")]
    try:
        _wait(lambda: len(smtp.messages) >= 1, 30, "the first cycle's digest")
        time.sleep(QUIET)
        runs_before = _succeeded_runs(engine)
        fake.reset_requests()
        publish(fake, "NCT05225675", "COMPLETED", "2026-11-30T09:00:00")
        _wait(lambda: _succeeded_runs(engine) > runs_before, 20, "a sync of the bump")
        time.sleep(QUIET)  # both poll meanwhile
        assert _succeeded_runs(engine) == runs_before + 1
        searches = [p for p, _ in fake.requests if p.endswith("/studies")]
        assert len(searches) == 1, fake.requests
        with engine.connect() as conn:
            owner = conn.execute(select(Lease.owner)).scalar_one()
        pid = int(owner.split(":")[1])
        leader = next(r for r in runners if r.process.pid == pid)
        standby = next(r for r in runners if r is not leader)
        leader.kill()  # SIGKILL: no chance to release anything
        killed_at = time.monotonic()
        publish(fake, "NCT06537999", "TERMINATED", "2026-12-01T09:00:00")
        _wait(lambda: _succeeded_runs(engine) > runs_before + 1, 20, "the standby's sync")
        assert time.monotonic() - killed_at < LEASE_SECONDS + 5
        assert standby.stop() == 0, standby.output()
    finally:
        for runner in runners:
            if runner.process.poll() is None:
                runner.kill()
    _no_run_left_running(engine)
