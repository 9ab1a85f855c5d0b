"""Claims of the outbox: who may release them, judged by the database's clock.

Both databases (the ``engine`` fixture); "the database's clock" is ``now()`` on
PostgreSQL and this host's clock on SQLite (one host by definition).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, update
from sqlalchemy.exc import OperationalError

from tests.jobs.test_delivery import SENDER, _queue, _rows
from tests.support.smtpserver import SmtpServer
from trialwatch.jobs.delivery import SendResult, send_digests_once
from trialwatch.mail.transport import SmtpTransport
from trialwatch.store import outbox
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Digest, Lease

HOST = socket.gethostname()
READERS = ["ana@example.org", "ben@example.org", "cy@example.org"]
LEASE = timedelta(minutes=15)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _db_now(engine: Engine) -> datetime:
    with session_scope(make_sessionmaker(engine)) as session:
        return outbox.database_now(session)


def _claim_all(engine: Engine, owner: str, age: timedelta | None = None) -> None:
    """Claim every due row as ``owner`` (claimed ``age`` ago by the database's clock)."""
    now = _db_now(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        assert len(outbox.claim(session, now, 100, owner=owner)) == len(READERS)
    if age is not None:
        with session_scope(make_sessionmaker(engine)) as session:
            session.execute(update(Digest).values(claimed_at=now - age))


def _pass(engine: Engine, url: str, owner: str, skew: timedelta = timedelta(0)) -> SendResult:
    """A delivery pass by ``owner`` whose own clock is ``skew`` off."""
    return send_digests_once(
        engine,
        SmtpTransport.from_url(url),
        sender=SENDER,
        now=lambda: datetime.now(UTC) + skew,
        lease=LEASE,
        owner=owner,
    )


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _queue_now(engine: Engine) -> None:
    _queue(engine, READERS, datetime.now(UTC) - timedelta(minutes=1))


# --- item 5: a restart releases its dead incarnation's claims at once ------------------------


def test_a_restarted_sender_releases_the_claims_of_its_dead_incarnation(
    engine: Engine, smtp: SmtpServer
) -> None:
    """Same host, a pid that is gone: its claims go back at once, not after 15 minutes."""
    _queue_now(engine)
    _claim_all(engine, f"{HOST}:{_dead_pid()}:{int(time.time()) - 5}")
    result = _pass(engine, smtp.url, f"{HOST}:{os.getpid()}:{int(time.time())}")
    assert (result.released, result.sent) == (3, 3)
    assert len(smtp.messages) == 3


def test_a_same_pid_claim_from_before_this_process_started_is_released(
    engine: Engine, smtp: SmtpServer
) -> None:
    """A container restarts as the same pid: a claim started before this process is dead."""
    _queue_now(engine)
    _claim_all(engine, f"{HOST}:{os.getpid()}:{int(time.time()) - 86400}")
    result = _pass(engine, smtp.url, f"{HOST}:{os.getpid()}:{int(time.time())}")
    assert (result.released, result.sent) == (3, 3)


def test_the_claims_of_a_live_process_on_this_host_are_kept(
    engine: Engine, smtp: SmtpServer
) -> None:
    _queue_now(engine)
    _claim_all(engine, f"{HOST}:{os.getppid()}:{int(time.time())}")
    result = _pass(engine, smtp.url, f"{HOST}:{os.getpid()}:{int(time.time())}")
    assert (result.released, result.sent) == (0, 0)
    assert smtp.messages == []


# --- item 6: stale claims by the database's clock --------------------------------------------


def test_claimed_at_comes_from_the_database_clock(engine: Engine) -> None:
    """A claimer whose clock is 20 minutes ahead still stamps the database's time."""
    _queue_now(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        claimed = outbox.claim(session, datetime.now(UTC) + timedelta(minutes=20), 100, owner="r")
    assert len(claimed) == 3
    for row in _rows(engine).values():
        assert row.claimed_at is not None
        assert abs(row.claimed_at - _db_now(engine)) < timedelta(seconds=60)


def test_a_replica_clock_ahead_does_not_release_the_leaders_claims(
    engine: Engine, smtp: SmtpServer
) -> None:
    """The leader's fresh claims survive a pass by a replica whose clock is 20 minutes ahead."""
    _queue_now(engine)
    _claim_all(engine, "leader.example:100:1700000000")
    result = _pass(engine, smtp.url, "replica.example:200:1700000000", timedelta(minutes=20))
    assert (result.released, result.sent) == (0, 0)
    assert smtp.messages == []
    assert {r.status for r in _rows(engine).values()} == {"sending"}


def test_a_claim_older_than_the_lease_by_the_database_clock_is_released(
    engine: Engine, smtp: SmtpServer
) -> None:
    """16 minutes old by the database, the owner holds no lease: released, even by a replica
    whose own clock is an hour behind."""
    _queue_now(engine)
    _claim_all(engine, "gone.example:100:1700000000", age=timedelta(minutes=16))
    result = _pass(engine, smtp.url, "replica.example:200:1700000000", -timedelta(hours=1))
    assert result.released == 3
    # Released with the same Message-IDs; due again by the database's clock, not the replica's.
    assert {r.status for r in _rows(engine).values()} <= {"queued", "sent"}


def test_an_old_claim_of_an_owner_that_still_holds_its_lease_is_kept(
    engine: Engine, smtp: SmtpServer
) -> None:
    """A leader in a long pass renews its lease: its claims are not taken from it."""
    _queue_now(engine)
    owner = "leader.example:100:1700000000"
    _claim_all(engine, owner, age=timedelta(minutes=16))
    now = _db_now(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        session.add(Lease(name="scheduler", owner=owner, acquired_at=now, expires_at=now + LEASE))
    result = _pass(engine, smtp.url, "replica.example:200:1700000000")
    assert (result.released, result.sent) == (0, 0)


# --- a database that fails while a pass records an outcome -----------------------------------


def test_a_message_delivered_while_the_database_fails_is_recorded_by_the_next_pass(
    engine: Engine, smtp: SmtpServer
) -> None:
    """The database refuses the first "sent": the pass ends with the error, the message is
    remembered, and the next pass of the same owner records it and sends the rest, each once."""
    _queue_now(engine)
    failures = {"left": 1}

    def refuse_first_sent(conn: object, cursor: object, statement: str, *args: object) -> None:
        marks_sent = statement.lstrip().upper().startswith("UPDATE DIGEST SET STATUS")
        if failures["left"] and marks_sent and "sent_at" in statement:
            failures["left"] -= 1
            raise OperationalError(statement, {}, Exception("the server closed the line"))

    event.listen(engine, "before_cursor_execute", refuse_first_sent)
    try:
        with pytest.raises(OperationalError):
            _pass(engine, smtp.url, "me:1:1")
    finally:
        event.remove(engine, "before_cursor_execute", refuse_first_sent)
    assert len(smtp.messages) == 1
    assert [row.status for row in _rows(engine).values()] == ["sending"] * 3
    again = _pass(engine, smtp.url, "me:1:1")
    assert (again.sent, again.released) == (2, 2)
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == sorted(READERS)
    assert [row.status for row in _rows(engine).values()] == ["sent"] * 3
