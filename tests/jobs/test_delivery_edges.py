"""Delivery at the edges: whose refusal it is, unacknowledged messages, deadlines and budgets.

A real SMTP server on loopback and both databases (the ``engine`` fixture).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from tests.jobs.test_delivery import SENDER, T0, _queue, _rows
from tests.support.smtpserver import SmtpServer
from trialwatch.jobs.delivery import SendResult, send_digests_once
from trialwatch.mail.transport import SmtpTransport
from trialwatch.store import health as health_store
from trialwatch.store import outbox
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Subscriber

READERS = ["ana@example.org", "ben@example.org", "cy@example.org"]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _send(engine: Engine, url: str, at: timedelta = timedelta(0), **kwargs: object) -> SendResult:
    return send_digests_once(
        engine,
        SmtpTransport.from_url(url),
        sender=SENDER,
        now=lambda: T0 + at,
        **kwargs,  # type: ignore[arg-type]
    )


def _statuses(engine: Engine) -> dict[str, str]:
    with session_scope(make_sessionmaker(engine)) as session:
        return {s.email: s.status for s in session.scalars(select(Subscriber))}


# --- item 1: a refusal of the sender bounces no one -------------------------------------------


def test_a_sender_refused_at_mail_from_bounces_no_one_and_stops(
    engine: Engine, smtp: SmtpServer
) -> None:
    """550 5.7.1 at MAIL FROM: nobody bounced, all stay queued uncounted, the pass reports it."""
    _queue(engine, READERS)
    smtp.reject_every_sender()
    result = _send(engine, smtp.url)
    assert (result.sent, result.failed, result.bounced) == (0, 0, 0)
    assert result.error is not None
    assert "550 5.7.1 Sender address rejected" in result.error
    assert set(_statuses(engine).values()) == {"active"}
    rows = _rows(engine).values()
    assert {(r.status, r.attempts) for r in rows} == {("queued", 0)}
    assert smtp.connections == 1  # stopped at the first refusal


def test_a_sender_refused_for_now_at_mail_from_stops_the_pass_uncounted(
    engine: Engine, smtp: SmtpServer
) -> None:
    """451 at MAIL FROM (a rate limit on our sender): stop, all queued as they were."""
    _queue(engine, READERS)
    smtp.reject_every_sender(451, "4.7.1 Sender rate limited, try later")
    result = _send(engine, smtp.url)
    assert (result.sent, result.retried, result.failed) == (0, 0, 0)
    assert result.error is not None
    assert "451 4.7.1" in result.error
    assert {(r.status, r.attempts) for r in _rows(engine).values()} == {("queued", 0)}
    with session_scope(make_sessionmaker(engine)) as session:
        assert outbox.sender_refusals(session)[0] == 0  # for now: no admin alert


def test_the_same_refusal_for_every_recipient_is_the_senders(
    engine: Engine, smtp: SmtpServer
) -> None:
    """554 5.7.1 relay denied to every RCPT TO of a pass: nobody bounced, the pass reports it."""
    _queue(engine, READERS)
    smtp.reject_every_recipient(554, "5.7.1 Relay access denied")
    result = _send(engine, smtp.url)
    assert (result.sent, result.bounced) == (0, 0)
    assert result.error is not None
    assert "554 5.7.1 Relay access denied" in result.error
    assert set(_statuses(engine).values()) == {"active"}
    assert {r.status for r in _rows(engine).values()} == {"queued"}


def test_the_same_refusal_at_data_for_everyone_is_the_senders(
    engine: Engine, smtp: SmtpServer
) -> None:
    smtp.fail_next_data(554, "5.7.1 Message rejected by policy", times=3)
    _queue(engine, READERS)
    result = _send(engine, smtp.url)
    assert result.bounced == 0
    assert result.error is not None
    assert set(_statuses(engine).values()) == {"active"}


def test_a_recipient_refused_among_deliveries_is_bounced_alone(
    engine: Engine, smtp: SmtpServer
) -> None:
    _queue(engine, READERS)
    smtp.reject_recipient("ben@example.org")
    result = _send(engine, smtp.url)
    assert (result.sent, result.failed, result.bounced, result.error) == (2, 1, 1, None)
    assert _statuses(engine) == {
        "ana@example.org": "active",
        "ben@example.org": "bounced",
        "cy@example.org": "active",
    }


def test_refusals_alike_are_the_recipients_once_another_message_goes_out(
    engine: Engine, smtp: SmtpServer
) -> None:
    """Two unknown users, then a delivery: the two refusals were about them; both bounce."""
    _queue(engine, READERS)
    for address in READERS[:2]:
        smtp.reject_recipient(address, 550, f"5.1.1 <{address}>: User unknown")
    result = _send(engine, smtp.url)
    assert (result.sent, result.bounced, result.error) == (1, 2, None)
    assert _statuses(engine) == {
        "ana@example.org": "bounced",
        "ben@example.org": "bounced",
        "cy@example.org": "active",
    }


def test_a_mailbox_code_after_data_bounces_that_recipient(engine: Engine, smtp: SmtpServer) -> None:
    """5.1.1 after DATA for one recipient bounces it; a 5.7.1 after DATA bounces no one."""
    _queue(engine, READERS)
    smtp.fail_next_data(550, "5.1.1 no such user")
    smtp.fail_next_data(554, "5.7.1 refused as spam")
    result = _send(engine, smtp.url)
    assert (result.sent, result.failed, result.bounced) == (1, 2, 1)
    assert _statuses(engine) == {
        "ana@example.org": "bounced",
        "ben@example.org": "active",
        "cy@example.org": "active",
    }


def test_retry_failed_reactivates_the_subscribers_it_requeues(
    engine: Engine, smtp: SmtpServer
) -> None:
    _queue(engine, READERS)
    smtp.reject_recipient("ben@example.org")
    _send(engine, smtp.url)
    assert _statuses(engine)["ben@example.org"] == "bounced"
    with session_scope(make_sessionmaker(engine)) as session:
        retried = outbox.requeue_failed(session, T0)
    assert (retried.requeued, retried.reactivated) == (1, 1)
    assert set(_statuses(engine).values()) == {"active"}


# --- item 3: a slow acknowledgement ----------------------------------------------------------


def test_a_slow_acknowledgement_gives_at_most_two_copies_then_unconfirmed(
    engine: Engine, smtp: SmtpServer
) -> None:
    """Data taken, 250 after the timeout: one retry after the backoff, then `unconfirmed`."""
    _queue(engine, ["ana@example.org"])
    smtp.acknowledge_slowly(2.0)
    url = f"{smtp.url}?timeout=0.4"
    first = _send(engine, url)
    assert (first.sent, first.retried, first.failed) == (0, 1, 0)
    assert _send(engine, url, timedelta(seconds=30)).to_dict()["retried"] == 0  # backoff
    second = _send(engine, url, timedelta(hours=1))
    assert (second.unconfirmed, second.failed) == (1, 0)
    for hours in (2, 8, 24):
        assert _send(engine, url, timedelta(hours=hours)).to_dict()["sent"] == 0
    assert len(smtp.messages) == 2
    row = _rows(engine)["ana@example.org"]
    assert (row.status, row.uncertain, row.attempts) == ("unconfirmed", 2, 2)
    with session_scope(make_sessionmaker(engine)) as session:
        assert outbox.status_counts(session) == {"unconfirmed": 1}
        assert health_store.failed_messages_since(session, T0) == 0  # no "mail failing"


# --- item 4: deadlines and budgets -------------------------------------------------------------


def test_a_tarpit_pass_ends_within_its_deadline(engine: Engine, smtp: SmtpServer) -> None:
    """One byte per 0.3 s, timeout 1 s, deadline 1.5 s: the pass ends, all queued uncounted."""
    _queue(engine, READERS)
    smtp.tarpit(0.3)
    started = time.monotonic()
    result = _send(engine, f"{smtp.url}?timeout=1&deadline=1.5")
    assert time.monotonic() - started < 3.0
    assert result.error is not None
    assert "deadline" in result.error
    assert {(r.status, r.attempts) for r in _rows(engine).values()} == {("queued", 0)}


def test_a_lost_lease_stops_the_pass_between_messages(engine: Engine, smtp: SmtpServer) -> None:
    """keep_going() false after the first message: the rest go back queued, uncounted."""
    _queue(engine, READERS)
    result = _send(engine, smtp.url, keep_going=lambda: len(smtp.messages) < 1)
    assert result.sent == 1
    rows = sorted(_rows(engine).values(), key=lambda r: r.id)
    assert [(r.status, r.attempts) for r in rows] == [("sent", 1), ("queued", 0), ("queued", 0)]
    assert all(r.claimed_at is None and r.claim_owner is None for r in rows[1:])


def test_a_spent_budget_stops_the_pass_between_messages(engine: Engine, smtp: SmtpServer) -> None:
    """A slow server and a budget of 0.5 s: the pass stops after the message that spent it."""
    _queue(engine, READERS)
    smtp.tarpit(0.01)  # each message takes a few tenths of a second
    started = time.monotonic()
    result = _send(engine, smtp.url, budget=0.5)
    assert time.monotonic() - started < 3.0
    assert 1 <= result.sent < 3
    assert {(r.status, r.attempts) for r in _rows(engine).values() if r.status != "sent"} == {
        ("queued", 0)
    }
