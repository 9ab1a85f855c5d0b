"""Health alerts about mail: a mail server that refuses the sender, and bounces."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine, select

from tests.jobs.test_delivery import SENDER, T0, _queue
from tests.support.cli import ROOT
from tests.support.smtpserver import SmtpServer
from trialwatch.jobs.delivery import send_digests_once
from trialwatch.jobs.health import HealthResult, check_health
from trialwatch.mail.templates import make_environment
from trialwatch.mail.transport import SmtpTransport
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Digest, HealthAlert

ADMIN = "admin@example.org"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _check(engine: Engine, at: timedelta = timedelta(0)) -> HealthResult:
    return check_health(
        engine,
        make_environment(ROOT / "templates"),
        admins=[ADMIN],
        sender=SENDER,
        stale_after=timedelta(days=365),
        now=T0 + at,
    )


def _send(engine: Engine, smtp: SmtpServer, at: timedelta = timedelta(0)) -> None:
    send_digests_once(engine, SmtpTransport.from_url(smtp.url), sender=SENDER, now=lambda: T0 + at)


def _alerts(engine: Engine) -> list[HealthAlert]:
    with session_scope(make_sessionmaker(engine)) as session:
        return list(session.scalars(select(HealthAlert).where(HealthAlert.active)))


def _alert_mails(engine: Engine) -> list[Digest]:
    with session_scope(make_sessionmaker(engine)) as session:
        return list(session.scalars(select(Digest).where(Digest.kind == "alert")))


def _text(message: str) -> str:
    """The plain-text part of a message, its lines joined."""
    parsed = email.message_from_string(message, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return " ".join(str(body.get_content()).split())


def test_a_refused_sender_raises_one_alert_naming_the_answer_until_mail_flows(
    engine: Engine, smtp: SmtpServer
) -> None:
    _queue(engine, ["ana@example.org", "ben@example.org"])
    smtp.reject_every_sender()
    _send(engine, smtp)
    for minutes in (0, 5, 10):  # checked again and again: one alert, one mail
        _send(engine, smtp, timedelta(minutes=minutes))
        _check(engine, timedelta(minutes=minutes))
    [alert] = _alerts(engine)
    assert alert.kind == "mail_refused"
    assert "550 5.7.1 Sender address rejected" in alert.detail
    assert "nobody was marked bounced" in alert.detail
    [mail] = _alert_mails(engine)
    assert "550 5.7.1 Sender address rejected" in _text(mail.message)

    smtp.clear()  # the relay is fixed
    _send(engine, smtp, timedelta(minutes=15))
    result = _check(engine, timedelta(minutes=15))
    assert result.cleared == ["mail_refused"]
    assert _alerts(engine) == []


def test_the_failing_mail_alert_speaks_of_bounces(engine: Engine, smtp: SmtpServer) -> None:
    readers = [f"reader{i}@example.org" for i in range(6)]
    _queue(engine, [*readers, "ok@example.org"])
    for address in readers:
        smtp.reject_recipient(address)
    _send(engine, smtp)
    _check(engine)
    [alert] = _alerts(engine)
    assert alert.kind == "outbox_failed"
    assert "6 subscribers were marked bounced" in alert.detail
    assert "--retry-failed" in alert.detail
