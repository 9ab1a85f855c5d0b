"""Delivery faults through `trialwatch` as a real process: refused sender, slow ack, tarpit.

Small timeouts and deadlines in the SMTP URL keep each run to a few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from tests.jobs.test_delivery import _queue, _rows
from tests.support.cli import ROOT, run_cli
from tests.support.fakeapi import FakeCtgov
from tests.support.smtpserver import SmtpServer
from trialwatch.store import outbox
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Digest, HealthAlert, Subscriber

pytestmark = pytest.mark.slow

ANSWER = "550 5.7.1 Sender address rejected"
READERS = ["ana@example.org", "ben@example.org", "cy@example.org"]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def env(
    database_url: str,
    fake: FakeCtgov,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, str]:
    """The processes' environment; the database is set up in this process."""
    values = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWATCH_")}
    values.update(
        {
            "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
            "TRIALWATCH_DATABASE_URL": database_url,
            "TRIALWATCH_API_URL": fake.base_url,
            "TRIALWATCH_REQUESTS_PER_MINUTE": "0",
            "TRIALWATCH_SECRET_KEY": "a-test-secret-key-that-is-long-enough-0123456789",
            "TRIALWATCH_STATE_DIR": str(tmp_path),
            "TRIALWATCH_ADMIN_EMAILS": "admin@example.org",
            "TRIALWATCH_LOG_FORMAT": "text",
        }
    )
    for key, value in values.items():
        if key.startswith("TRIALWATCH_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "init")
    assert code == 0, err
    return values


def _trialwatch(env: dict[str, str], smtp_url: str, *args: str) -> tuple[int, str, str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "trialwatch", *args],
        env={**env, "TRIALWATCH_SMTP_URL": smtp_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def test_a_refused_sender_bounces_no_one_exits_1_and_raises_one_alert(
    engine: Engine, env: dict[str, str], smtp: SmtpServer
) -> None:
    _queue(engine, READERS, datetime.now(UTC))
    smtp.reject_every_sender()
    code, out, err, _ = _trialwatch(env, smtp.url, "digest", "--send")
    assert code == 1, (out, err)
    assert "Traceback" not in err
    assert ANSWER in err.strip().splitlines()[-1]
    with session_scope(make_sessionmaker(engine)) as session:
        assert set(session.scalars(select(Subscriber.status))) == {"active"}
    assert {r.status for r in _rows(engine).values()} == {"queued"}
    code, out, err, _ = _trialwatch(env, smtp.url, "run", "--once")  # a cycle: health too
    assert "Traceback" not in out + err
    with session_scope(make_sessionmaker(engine)) as session:
        assert set(session.scalars(select(Subscriber.status))) == {"active"}
        alert_rows = list(session.scalars(select(HealthAlert).where(HealthAlert.active)))
        mails = list(session.scalars(select(Digest).where(Digest.kind == "alert")))
    assert [a.kind for a in alert_rows] == ["mail_refused"]
    assert ANSWER in alert_rows[0].detail
    assert len(mails) == 1
    assert smtp.messages == []


# The database's part is tested on both in tests/jobs/test_delivery_edges.py.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_slow_acknowledgement_gives_two_copies_at_most_and_ends_unconfirmed(
    engine: Engine, env: dict[str, str], smtp: SmtpServer
) -> None:
    _queue(engine, ["ana@example.org"], datetime.now(UTC))
    smtp.acknowledge_slowly(3.0)
    url = f"{smtp.url}?timeout=1&deadline=3"
    for _ in range(3):  # the third finds nothing left to send
        code, out, err, _ = _trialwatch(env, url, "outbox", "--send")
        assert code == 0, (out, err)
        with session_scope(make_sessionmaker(engine)) as session:  # the backoff has passed
            session.execute(update(Digest).values(next_attempt_at=datetime.now(UTC)))
    assert len(smtp.messages) == 2
    row = _rows(engine)["ana@example.org"]
    assert (row.status, row.uncertain) == ("unconfirmed", 2)
    assert "unconfirmed: 1" in out
    assert "2 unacknowledged" in out


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_tarpit_pass_ends_within_its_deadline(
    engine: Engine, env: dict[str, str], smtp: SmtpServer
) -> None:
    _queue(engine, READERS, datetime.now(UTC))
    smtp.tarpit(0.3)
    code, out, err, seconds = _trialwatch(
        env, f"{smtp.url}?timeout=1&deadline=2", "outbox", "--send"
    )
    assert code == 1, (out, err)
    assert "deadline" in err
    assert seconds < 10  # about 2 s of deadline and the start of a process
    assert {(r.status, r.attempts) for r in _rows(engine).values()} == {("queued", 0)}


# The claims' part is tested on both databases in tests/jobs/test_delivery_claims.py.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_restarted_sender_takes_over_its_dead_predecessors_claims_at_once(
    engine: Engine, env: dict[str, str], smtp: SmtpServer
) -> None:
    """`outbox --send` killed mid-message: the next run sends everything, not 15 min later."""
    _queue(engine, READERS, datetime.now(UTC))
    smtp.acknowledge_slowly(30.0)
    process = subprocess.Popen(
        [sys.executable, "-m", "trialwatch", "outbox", "--send"],
        env={**env, "TRIALWATCH_SMTP_URL": f"{smtp.url}?timeout=60"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        smtp.wait_for(lambda: len(smtp.messages) == 1, timeout=20)  # in flight, unacknowledged
    finally:
        process.kill()
        process.wait(timeout=10)
    assert {r.status for r in _rows(engine).values()} == {"sending"}
    smtp.clear()
    code, out, err, _ = _trialwatch(env, smtp.url, "outbox", "--send", "--json")
    assert code == 0, (out, err)
    report = json.loads(out)["sent"]
    assert (report["released"], report["sent"]) == (3, 3)
    assert {r.status for r in _rows(engine).values()} == {"sent"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_replica_20_minutes_ahead_leaves_the_leaders_claims_alone(
    engine: Engine, env: dict[str, str], smtp: SmtpServer
) -> None:
    """`outbox --send` under faketime +20m: the leader's fresh claims stay its own.

    PostgreSQL only: there the database's clock is the server's. (SQLite is one host,
    whose clock is the database's.)
    """
    _queue(engine, READERS, datetime.now(UTC))
    with session_scope(make_sessionmaker(engine)) as session:
        claimed = outbox.claim(session, datetime.now(UTC), 100, owner="leader.example:1:1")
    assert len(claimed) == 3
    done = subprocess.run(
        [
            "faketime",
            "-f",
            "+20m",
            sys.executable,
            "-m",
            "trialwatch",
            "outbox",
            "--send",
            "--json",
        ],
        env={**env, "TRIALWATCH_SMTP_URL": smtp.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["sent"]
    assert (report["released"], report["sent"]) == (0, 0)
    assert smtp.messages == []
    assert {r.status for r in _rows(engine).values()} == {"sending"}
