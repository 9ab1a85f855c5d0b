"""The test SMTP server's faults, seen by a plain smtplib client."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.smtpserver import SmtpServer

MESSAGE = b"Subject: hi\r\nMessage-ID: <m1@example.org>\r\n\r\nHello\r\n"


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with SmtpServer() as smtp_server:
        yield smtp_server


def connect(server: SmtpServer, timeout: float = 5.0) -> smtplib.SMTP:
    client = smtplib.SMTP(server.host, server.port, timeout=timeout)
    client.ehlo()
    return client


def test_every_sender_refused_at_mail_from(server: SmtpServer) -> None:
    server.reject_every_sender()
    with connect(server) as client:
        code, reply = client.mail("anyone@example.org")
    assert (code, reply) == (550, b"5.7.1 Sender address rejected")
    assert server.messages == []


def test_every_recipient_refused_alike(server: SmtpServer) -> None:
    server.reject_every_recipient(554, "5.7.1 relay denied")
    with connect(server) as client:
        assert client.mail("me@example.org")[0] == 250
        assert client.rcpt("a@example.org") == (554, b"5.7.1 relay denied")
        assert client.rcpt("b@example.org") == (554, b"5.7.1 relay denied")


def test_slow_acknowledgment_records_the_message_and_answers_late(server: SmtpServer) -> None:
    server.acknowledge_slowly(1.0, times=1)
    client = connect(server, timeout=0.3)
    with pytest.raises((TimeoutError, socket.timeout, smtplib.SMTPServerDisconnected)):
        client.sendmail("me@example.org", ["a@example.org"], MESSAGE)
    client.close()
    assert len(server.messages) == 1  # it arrived; the client could not know
    with connect(server) as client:  # the next message is acknowledged at once
        client.sendmail("me@example.org", ["a@example.org"], MESSAGE)
    assert len(server.messages) == 2


def test_tarpit_writes_one_byte_per_interval(server: SmtpServer) -> None:
    server.tarpit(0.01)
    started = time.monotonic()
    with connect(server, timeout=1.0) as client:  # every byte within the timeout
        assert client.noop()[0] == 250
    # the greeting and the EHLO, NOOP and QUIT replies: dozens of bytes, 0.01 s each
    assert time.monotonic() - started > 1.0
