"""Concurrent digest builders: real processes and threads on one database, one digest each."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.factories import MAIL, SENDER, T0, change_status, sync_mmn
from tests.support.cli import ROOT
from tests.support.fakeapi import FakeCtgov
from tests.support.smtpserver import SmtpServer
from trialwatch.jobs.digests import build_digests_once
from trialwatch.mail.templates import make_environment
from trialwatch.services import watchlist_files
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.db import make_engine, make_sessionmaker, session_scope
from trialwatch.store.models import Digest
from trialwatch.store.subscribers import SubscriptionRequest
from trialwatch.watchlists import load_watchlists

SUBSCRIBERS = 200
SECRET = "a-test-secret-key-that-is-long-enough-0123456789"


def _due_subscribers(engine: Engine, fake: FakeCtgov, count: int) -> list[str]:
    """Sync MMN, subscribe ``count`` addresses (immediate), then make a change they are due."""
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, load_watchlists(ROOT / "config" / "watchlists"), T0)
    sync_mmn(engine, fake)
    emails = [f"person{i:03d}@example.org" for i in range(count)]
    with session_scope(make_sessionmaker(engine)) as session:
        for email in emails:
            request = SubscriptionRequest(email=email, watchlists=("mmn",), frequency="immediate")
            subscriber_store.subscribe(session, request, T0)
    change_status(fake, "NCT05225675", "COMPLETED", "2026-11-28")
    sync_mmn(engine, fake)
    return emails


def _outbox_rows(engine: Engine) -> int:
    with session_scope(make_sessionmaker(engine)) as session:
        return session.scalar(select(func.count()).select_from(Digest)) or 0


def _cli_env(database_url: str, fake: FakeCtgov, smtp: SmtpServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    env.update(
        {
            "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
            "TRIALWATCH_DATABASE_URL": database_url,
            "TRIALWATCH_API_URL": fake.base_url,
            "TRIALWATCH_MAIL": "smtp",
            "TRIALWATCH_SMTP_URL": smtp.url,
            "TRIALWATCH_MAIL_FROM": SENDER,
            "TRIALWATCH_SECRET_KEY": SECRET,
            "TRIALWATCH_LOG_FORMAT": "text",
        }
    )
    return env


def _trialwatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "trialwatch", *args]


@pytest.mark.slow
def test_three_digest_processes_at_once_queue_and_send_one_digest_per_subscriber(
    engine: Engine, database_url: str, fake: FakeCtgov, tmp_path: Path
) -> None:
    """3 x `trialwatch digest` at once, 200 due: 200 rows, 200 messages, 200 recipients."""
    emails = _due_subscribers(engine, fake, SUBSCRIBERS)
    with SmtpServer() as smtp:
        env = _cli_env(database_url, fake, smtp)
        builders = [
            subprocess.Popen(
                _trialwatch("digest"),
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        for builder in builders:
            _, err = builder.communicate(timeout=90)
            assert builder.returncode == 0, err
            assert "Traceback" not in err
        assert _outbox_rows(engine) == SUBSCRIBERS
        senders = [
            subprocess.Popen(
                _trialwatch("outbox", "--send"),
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for sender in senders:
            _, err = sender.communicate(timeout=90)
            assert sender.returncode == 0, err
        smtp.wait_for(lambda: len(smtp.messages) >= SUBSCRIBERS, timeout=10)
        recipients = [m.rcpt_tos[0] for m in smtp.messages]
        assert len(recipients) == SUBSCRIBERS
        assert sorted(set(recipients)) == emails
        assert len({m.message["Message-ID"] for m in smtp.messages}) == SUBSCRIBERS


def test_two_builders_in_threads_queue_each_digest_once(engine: Engine, fake: FakeCtgov) -> None:
    """The scheduler's case: two threads call the build at once; each subscriber gets one."""
    _due_subscribers(engine, fake, 40)
    barrier = threading.Barrier(3)
    results: list[int] = []
    errors: list[BaseException] = []

    def build() -> None:
        own = make_engine(engine.url.render_as_string(hide_password=False))
        try:
            barrier.wait()
            results.append(build_digests_once(own, make_environment(), MAIL, now=T0).queued)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(results) == [0, 0, 40]
    assert _outbox_rows(engine) == 40


def test_a_builder_whose_cursors_moved_under_it_queues_no_second_copy(
    engine: Engine, fake: FakeCtgov, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the lock: another build between our read and our write leaves us nothing."""
    _due_subscribers(engine, fake, 5)
    from trialwatch.jobs import digests

    real_due = digests._due_subscribers
    raced: list[int] = []

    def read_then_race(*args: Any, **kwargs: Any) -> Any:
        due = real_due(*args, **kwargs)
        if not raced:  # another builder runs to completion after our read
            raced.append(-1)
            raced[0] = build_digests_once(engine, make_environment(), MAIL, now=T0).queued
        return due

    monkeypatch.setattr(digests, "_due_subscribers", read_then_race)
    late = digests._build(engine, make_environment(), MAIL, now=T0, dry_run=False, commit_every=2)
    assert raced == [5]
    assert (late.subscribers, late.queued) == (5, 0)
    assert _outbox_rows(engine) == 5
