"""The service at its edges, as real processes: mail leaves within seconds, a dropped
database connection does not end `run`, SIGHUP follows deleted files, a replica whose
clock is ahead does not lead beside a live leader."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.pool import NullPool

from tests.support.cli import ROOT, run_cli
from tests.support.fakeapi import FakeCtgov
from tests.support.processes import Process, count, free_port, process_env, publish, wait_until
from tests.support.smtpserver import SmtpServer
from tests.web.helpers_subscribe import post_subscribe
from trialwatch.config import load_settings
from trialwatch.jobs.digests import BUILD_LOCK_NAME
from trialwatch.jobs.runner import Jobs
from trialwatch.services import subscriptions
from trialwatch.store.db import make_engine, make_sessionmaker, session_scope
from trialwatch.store.locks import _lock_key
from trialwatch.store.models import Digest, Lease, SyncRun, Watchlist

pytestmark = pytest.mark.slow


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _setup(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    folder: Path,
    *subscribers: str,
) -> None:
    """Init the database and add immediate subscribers, in this process."""
    for key, value in env.items():
        if key.startswith("TRIALWATCH_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(folder)
    assert run_cli(capsys, "init")[0] == 0
    for email in subscribers:
        code, _, err = run_cli(capsys, "subscriber", "add", email, "-w", "mmn", "-f", "immediate")
        assert code == 0, err


def _succeeded_runs(engine: Engine) -> int:
    query = select(func.count()).select_from(SyncRun).where(SyncRun.status == "succeeded")
    return count(engine, query)


def _message_ids(smtp: SmtpServer) -> list[str]:
    return [str(m.message["Message-ID"]) for m in smtp.messages]


def _queue_confirmation(env: dict[str, str], email: str) -> None:
    """A subscription request, as the form makes it: one confirmation queued."""
    settings = load_settings(env)
    engine = make_engine(settings.database_url)
    try:
        jobs = Jobs(settings, engine)
        with session_scope(make_sessionmaker(engine)) as session:
            subscriptions.request_subscription(
                session,
                jobs.templates,
                jobs.mail,
                email,
                subscriptions.Preferences(watchlists=("mmn",)),
                jobs.clock(),
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("beside", ["serve alone", "serve and run"])
def test_the_confirmation_leaves_within_5_s_of_the_form(
    beside: str,
    database_url: str,
    fake: FakeCtgov,
    smtp: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The subscribe form posted to `serve` (alone, or with `run` polling every 10 min):
    the confirmation is at the SMTP server within 5 s, once."""
    port = free_port()
    env = process_env(
        database_url,
        fake,
        smtp,
        tmp_path,
        TRIALWATCH_PUBLIC_URL=f"http://127.0.0.1:{port}",
        TRIALWATCH_POLL_EVERY="10m",
    )
    _setup(monkeypatch, capsys, env, tmp_path)
    web = Process(env, tmp_path, "serve", args=("serve", "--port", str(port)))
    runner = Process(env, tmp_path, "runner") if beside == "serve and run" else None
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(f"{base}/healthz"), 20, "the web server")
        if runner is not None:
            wait_until(lambda: "cycle finished" in runner.output(), 30, "the first cycle")
        form = {"email": "ana@example.org", "watchlist": "mmn", "frequency": "weekly"}
        with httpx.Client(base_url=base, timeout=10) as browser:
            posted = time.monotonic()
            response = post_subscribe(browser, form)
        assert response.status_code == 200, response.text
        smtp.wait_for(lambda: len(smtp.messages) >= 1, timeout=5 - (time.monotonic() - posted))
        time.sleep(2.5)  # a look of `run` and one of the web's mailer: nothing sent twice
        [message] = smtp.messages
        assert list(message.rcpt_tos) == ["ana@example.org"]
        assert web.stop() in (0, -signal.SIGTERM), web.output()  # uvicorn re-raises it
        if runner is not None:
            assert runner.stop() == 0, runner.output()
    finally:
        web.kill()
        if runner is not None:
            runner.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_run_delivers_queued_mail_between_cycles(
    database_url: str,
    fake: FakeCtgov,
    smtp: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With POLL_EVERY=10m, a confirmation queued after the first cycle leaves within 5 s."""
    env = process_env(database_url, fake, smtp, tmp_path, TRIALWATCH_POLL_EVERY="10m")
    _setup(monkeypatch, capsys, env, tmp_path, "ana@example.org")
    runner = Process(env, tmp_path, "runner")
    try:
        wait_until(lambda: len(smtp.messages) >= 1, 30, "the first cycle's digest")
        _queue_confirmation(env, "bob@example.org")
        took = wait_until(lambda: len(smtp.messages) >= 2, 5, "the confirmation")
        assert list(smtp.messages[-1].rcpt_tos) == ["bob@example.org"], took
        assert runner.stop() == 0, runner.output()
    finally:
        runner.kill()


def test_sighup_disables_the_watchlist_whose_file_was_deleted(
    database_url: str,
    engine: Engine,
    fake: FakeCtgov,
    smtp: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`init` and SIGHUP share one reload: a deleted file's watchlist is disabled."""
    folder = tmp_path / "watchlists"
    folder.mkdir()
    (folder / "mmn.toml").write_text((ROOT / "config" / "watchlists" / "mmn.toml").read_text())
    extra = folder / "extra.toml"
    extra.write_text('slug = "extra"\nname = "Extra"\n[criteria]\nnct_ids = ["NCT05225675"]\n')
    env = process_env(
        database_url,
        fake,
        smtp,
        tmp_path,
        TRIALWATCH_WATCHLISTS_DIR=str(folder),
        TRIALWATCH_POLL_EVERY="10m",
    )
    _setup(monkeypatch, capsys, env, tmp_path)
    enabled = select(Watchlist.enabled).where(Watchlist.slug == "extra")
    runner = Process(env, tmp_path, "runner")
    try:
        wait_until(lambda: _succeeded_runs(engine) >= 2, 30, "the first cycle")
        extra.unlink()
        runner.send(signal.SIGHUP)
        wait_until(lambda: count(engine, enabled) == 0, 10, "the watchlist disabled")
        assert runner.alive, runner.output()
        assert runner.stop() == 0, runner.output()
    finally:
        runner.kill()


class _Terminator:
    """Terminates every other backend of the test database (and only of it)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url, poolclass=NullPool)
        self.hits = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def once(self) -> int:
        with self.engine.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
            conn.commit()
        return int(killed)

    def during_lock(self, name: str, times: int) -> None:
        """In a thread: whenever a backend holds advisory lock ``name``, terminate all."""
        key = _lock_key(name)
        holders = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = CAST(:high AS oid) AND objid = CAST(:low AS oid)"
        )
        params = {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF}

        def loop() -> None:
            while self.hits < times and not self._stop.wait(0.01):
                with self.engine.connect() as conn:
                    held = conn.execute(holders, params).scalar_one()
                if held:
                    self.once()
                    self.hits += 1

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.engine.dispose()


def _all_mailed_once(engine: Engine, smtp: SmtpServer, runner: Process) -> None:
    """Both digests at the server, one copy each, nothing left in the outbox; alive."""
    assert runner.alive, runner.output()
    ids = _message_ids(smtp)
    assert len(ids) == len(set(ids)) == 2, ids
    recipients = sorted(r for m in smtp.messages for r in m.rcpt_tos)
    assert recipients == ["ana@example.org", "bob@example.org"]
    pending = select(func.count()).select_from(Digest).where(Digest.status != "sent")
    assert count(engine, pending) == 0


def test_run_survives_terminated_connections_during_the_digest_build(
    database_url: str,
    engine: Engine,
    fake: FakeCtgov,
    smtp: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """pg_terminate_backend of every connection while digests are built (twice): `run`
    lives on, and each due digest arrives once, within a minute."""
    if engine.dialect.name != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    env = process_env(database_url, fake, smtp, tmp_path)
    _setup(monkeypatch, capsys, env, tmp_path, "ana@example.org", "bob@example.org")
    terminator = _Terminator(database_url)
    terminator.during_lock(BUILD_LOCK_NAME, times=2)
    started = time.monotonic()
    runner = Process(env, tmp_path, "runner")
    try:
        wait_until(lambda: terminator.hits >= 2, 30, "two terminations during a build")
        wait_until(lambda: len(smtp.messages) >= 2, 60, "both digests")
        assert time.monotonic() - started < 60
        time.sleep(2.0)
        # (The terminations came while the builder held its lock; whether the builder's
        # own connection or an idle one met them depends on the machine's load.)
        _all_mailed_once(engine, smtp, runner)
        assert runner.stop() == 0, runner.output()
    finally:
        terminator.stop()
        runner.kill()


def test_run_survives_a_terminated_connection_while_a_message_is_acknowledged(
    database_url: str,
    engine: Engine,
    fake: FakeCtgov,
    smtp: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """pg_terminate_backend while the server takes 1.5 s to acknowledge a digest: `run`
    lives on, and each due digest arrives once, within a minute."""
    if engine.dialect.name != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    env = process_env(database_url, fake, smtp, tmp_path)
    _setup(monkeypatch, capsys, env, tmp_path, "ana@example.org", "bob@example.org")
    terminator = _Terminator(database_url)
    smtp.acknowledge_slowly(1.5, times=1)
    started = time.monotonic()
    runner = Process(env, tmp_path, "runner")
    try:
        smtp.wait_for(lambda: len(smtp.messages) >= 1, timeout=30)
        assert terminator.once() >= 1  # the sender waits for the acknowledgment now
        wait_until(lambda: len(smtp.messages) >= 2, 20, "both digests")
        assert time.monotonic() - started < 60
        time.sleep(2.0)
        assert runner.alive, runner.output()
        _all_mailed_once(engine, smtp, runner)
        assert runner.stop() == 0, runner.output()
    finally:
        terminator.stop()
        runner.kill()


def test_a_replica_16_minutes_ahead_neither_leads_nor_duplicates(
    database_url: str,
    engine: Engine,
    fake: FakeCtgov,
    smtp: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A second `run` under faketime +16 min beside a live leader: the lease stays the
    leader's, and every message arrives once."""
    if engine.dialect.name != "postgresql":
        pytest.skip("replicas share PostgreSQL; SQLite is for one process")
    env = process_env(database_url, fake, smtp, tmp_path)
    _setup(monkeypatch, capsys, env, tmp_path, "ana@example.org")
    leader = Process(env, tmp_path, "leader")
    replica: Process | None = None
    try:
        wait_until(lambda: len(smtp.messages) >= 1, 30, "the first cycle's digest")
        with engine.connect() as conn:
            owner = conn.execute(select(Lease.owner)).scalar_one()
        assert int(owner.split(":")[1]) == leader.process.pid
        ahead = {**env, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        replica = Process(ahead, tmp_path, "replica", prefix=("faketime", "-f", "+16m"))
        owners = set()
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                owners.add(conn.execute(select(Lease.owner)).scalar())
            time.sleep(0.1)
        publish(fake, "NCT05225675", "COMPLETED", "2026-11-30T09:00:00")
        _queue_confirmation(env, "bob@example.org")
        wait_until(lambda: len(smtp.messages) >= 3, 20, "the digest and the confirmation")
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                owners.add(conn.execute(select(Lease.owner)).scalar())
            time.sleep(0.1)
        ids = _message_ids(smtp)
        assert len(ids) == len(set(ids)), ids
        assert owners == {owner}, (owners, replica.output())
        assert replica.alive, replica.output()
    finally:
        leader.kill()
        if replica is not None:
            replica.kill()


def test_a_tarpitting_mail_server_delays_no_sync(
    database_url: str,
    engine: Engine,
    fake: FakeCtgov,
    smtp: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A server that drips one byte a second from the start: each SMTP transaction ends at
    its deadline, and a publication is synced within seconds, the leader still leading."""
    env = process_env(
        database_url,
        fake,
        smtp,
        tmp_path,
        TRIALWATCH_SMTP_URL=f"{smtp.url}?timeout=5&deadline=2",
    )
    _setup(monkeypatch, capsys, env, tmp_path, "ana@example.org", "bob@example.org")
    smtp.tarpit(1.0)
    runner = Process(env, tmp_path, "runner")
    try:
        wait_until(lambda: _succeeded_runs(engine) >= 1, 30, "the first sync")
        wait_until(lambda: "within the deadline" in runner.output(), 15, "a cut-off pass")
        runs = _succeeded_runs(engine)
        published = time.monotonic()
        publish(fake, "NCT05225675", "COMPLETED", "2026-11-30T09:00:00")
        wait_until(lambda: _succeeded_runs(engine) > runs, 10, "the sync of the publication")
        assert time.monotonic() - published < 10
        assert runner.alive, runner.output()
        assert smtp.messages == []
        assert runner.stop() == 0, runner.output()
    finally:
        runner.kill()
