"""Who a refusal names, unacknowledged messages and the transaction deadline, over real SMTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import trialwatch.errors as errors
from tests.mail.test_transport import SENDER, make_message
from tests.support.smtpserver import SmtpServer
from trialwatch.errors import ConfigError, ConnectionFailure, ConnectionLost, DeliveryError
from trialwatch.mail.smtp_url import parse_smtp_url
from trialwatch.mail.transport import SmtpTransport

TO = "jane@example.org"


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with SmtpServer() as smtp_server:
        yield smtp_server


def send(server: SmtpServer, query: str = "timeout=5") -> None:
    with SmtpTransport.from_url(f"{server.url}?{query}") as transport:
        transport.send(make_message(TO), sender=SENDER, recipient=TO)


def test_a_refusal_at_mail_from_is_the_senders_not_the_recipients(server: SmtpServer) -> None:
    """550 5.7.1 at MAIL FROM: SenderRefused, carrying the server's answer, naming no one."""
    server.reject_every_sender()
    with pytest.raises(errors.SenderRefused) as caught:
        send(server)
    assert caught.value.permanent
    assert not caught.value.names_recipient
    assert caught.value.answer == "550 5.7.1 Sender address rejected"
    assert server.messages == []


def test_a_refusal_at_rcpt_to_names_the_recipient(server: SmtpServer) -> None:
    server.reject_recipient(TO)
    with pytest.raises(DeliveryError) as caught:
        send(server)
    assert caught.value.permanent
    assert caught.value.names_recipient
    assert caught.value.answer == "550 5.1.1 mailbox unavailable"


@pytest.mark.parametrize(
    ("code", "text", "names"),
    [
        (550, "5.1.1 no such user", True),
        (552, "5.2.1 mailbox disabled", True),
        (554, "5.7.1 message refused as spam", False),
        (552, "5.3.4 message too big", False),
        (550, "no enhanced code", False),
    ],
)
def test_after_data_only_a_mailbox_code_names_the_recipient(
    server: SmtpServer, code: int, text: str, names: bool
) -> None:
    server.fail_next_data(code, text)
    with pytest.raises(DeliveryError) as caught:
        send(server)
    assert caught.value.permanent
    assert caught.value.names_recipient is names
    assert caught.value.answer == f"{code} {text}"


def test_a_reply_that_never_comes_after_the_data_is_uncertain(server: SmtpServer) -> None:
    """The server took the data and answers after the timeout: DeliveryUncertain."""
    server.acknowledge_slowly(3.0)
    started = time.monotonic()
    with pytest.raises(errors.DeliveryUncertain) as caught:
        send(server, "timeout=0.5")
    assert isinstance(caught.value, ConnectionLost)
    assert not caught.value.permanent
    assert time.monotonic() - started < 2.5
    assert len(server.messages) == 1  # it did arrive


def test_a_connection_lost_before_the_data_is_not_uncertain(server: SmtpServer) -> None:
    """421 at RCPT TO closes the connection before any data: plain ConnectionLost."""
    server.reject_recipient(TO, 421, "4.4.2 closing")
    with pytest.raises(ConnectionLost) as caught:
        send(server)
    assert not isinstance(caught.value, errors.DeliveryUncertain)


def test_a_tarpit_is_cut_at_the_transaction_deadline(server: SmtpServer) -> None:
    """Every byte within the timeout, yet the whole transaction ends at the deadline."""
    server.tarpit(0.2)
    started = time.monotonic()
    with pytest.raises(ConnectionFailure, match="deadline"):
        send(server, "timeout=1&deadline=1.5")
    assert time.monotonic() - started < 2.5


def test_the_deadline_cuts_a_wait_shorter_than_the_timeout(server: SmtpServer) -> None:
    """deadline=1 with timeout=3: a slow acknowledgement is given up after about 1 s."""
    server.acknowledge_slowly(5.0)
    started = time.monotonic()
    with pytest.raises(errors.DeliveryUncertain, match="deadline"):
        send(server, "timeout=3&deadline=1")
    assert time.monotonic() - started < 2.0


def test_the_deadline_is_an_smtp_url_option() -> None:
    assert parse_smtp_url("smtp://h:25").deadline == 60.0
    assert parse_smtp_url("smtp://h:25?deadline=3&timeout=1").deadline == 3.0
    for bad in ("deadline=x", "deadline=0", "deadline=7200"):
        with pytest.raises(ConfigError, match="deadline"):
            parse_smtp_url(f"smtp://h:25?{bad}")
