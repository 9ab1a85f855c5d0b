"""Mail transports against a real SMTP server (aiosmtpd) and a real folder."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.smtpserver import Certificates, SmtpServer, make_certificates
from trialwatch.errors import (
    ConfigError,
    ConnectionFailure,
    ConnectionLost,
    DeliveryError,
    SenderRefused,
)
from trialwatch.mail.message import build_message
from trialwatch.mail.smtp_url import parse_smtp_url
from trialwatch.mail.templates import RenderedMessage
from trialwatch.mail.transport import (
    FileTransport,
    SmtpTransport,
    make_transport,
)

SENDER = "trialwatch@trialwatch.example.org"
PASSWORD = "pa:ss/w@rd"  # needs percent-encoding in a URL
QUOTED_PASSWORD = "pa%3Ass%2Fw%40rd"
BODY_MARKER = "Body-marker-7f3a"


def make_message(recipient: str = "jane@example.org", number: int = 1) -> bytes:
    """A built digest message for ``recipient``, numbered in its subject and Message-ID."""
    return build_message(
        RenderedMessage(
            subject=f"Digest {number}",
            text=f"Hello,\n{BODY_MARKER}\n",
            html=f"<p>Hello,</p><p>{BODY_MARKER}</p>\n",
        ),
        sender=f"TrialWatch <{SENDER}>",
        recipient_email=recipient,
        recipient_name=None,
        message_id=f"<digest-{number}.abc@trialwatch.example.org>",
        unsubscribe_url="https://trialwatch.example.org/unsubscribe/tok",
        date=datetime(2026, 3, 12, 6, 0, tzinfo=UTC),
    )


@pytest.fixture(scope="module")
def certificates() -> Certificates:
    """A throwaway CA and a certificate for 127.0.0.1."""
    return make_certificates()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[SmtpServer]:
    """One plain SMTP server for the module's tests."""
    with SmtpServer() as server:
        yield server


@pytest.fixture
def server(shared_server: SmtpServer) -> Iterator[SmtpServer]:
    """The plain server, emptied and without faults or open connections."""
    shared_server.clear()
    yield shared_server
    shared_server.drop_connections()


def transport_for(server: SmtpServer, query: str = "") -> SmtpTransport:
    """An SMTP transport to ``server`` with a short timeout."""
    return SmtpTransport.from_url(f"{server.url}?timeout=5{query}")


# --- SMTP delivery ---------------------------------------------------------------------------


def test_it_delivers_a_batch_over_one_connection(server: SmtpServer) -> None:
    """Three messages go over a single connection, each with its envelope."""
    recipients = ["a@example.org", "b@example.org", "c@example.org"]
    with transport_for(server) as transport:
        for number, recipient in enumerate(recipients, start=1):
            transport.send(make_message(recipient, number), sender=SENDER, recipient=recipient)
    assert server.connections == 1
    assert [m.rcpt_tos for m in server.messages] == [(r,) for r in recipients]
    assert {m.mail_from for m in server.messages} == {SENDER}
    assert [m.message["Subject"] for m in server.messages] == ["Digest 1", "Digest 2", "Digest 3"]
    assert server.messages[0].data == make_message("a@example.org", 1)


def test_closing_says_goodbye(server: SmtpServer) -> None:
    """Leaving the with block closes the connection (the server sees it go)."""
    with transport_for(server) as transport:
        transport.send(make_message(), sender=SENDER, recipient="jane@example.org")
    server.wait_for(lambda: server.open_connections == 0)


def test_send_connects_if_needed(server: SmtpServer) -> None:
    """send() without open() connects by itself."""
    transport = transport_for(server, "&local_hostname=sender.example.org")
    try:
        transport.send(make_message(), sender=SENDER, recipient="jane@example.org")
    finally:
        transport.close()
    assert len(server.messages) == 1


def test_it_upgrades_with_starttls_and_logs_in(certificates: Certificates) -> None:
    """smtp://user:pass@host?starttls=1 encrypts, then authenticates, then sends."""
    with SmtpServer(
        tls=certificates.server_context, require_starttls=True, auth={"alice": PASSWORD}
    ) as server:
        url = server.url.replace("//", f"//alice:{QUOTED_PASSWORD}@") + "?starttls=1&verify=0"
        with SmtpTransport.from_url(url) as transport:
            transport.send(make_message(), sender=SENDER, recipient="jane@example.org")
        (received,) = server.messages
    assert received.tls
    assert received.authenticated


def test_it_checks_the_server_certificate_by_default(certificates: Certificates) -> None:
    """Without verify=0 a certificate from an unknown CA is refused as a connection failure."""
    with SmtpServer(tls=certificates.server_context, require_starttls=True) as server:
        transport = SmtpTransport.from_url(f"{server.url}?starttls=1&timeout=5")
        with pytest.raises(ConnectionFailure, match="certificate"):
            transport.open()
        assert server.messages == []


def test_it_trusts_a_given_ssl_context(certificates: Certificates) -> None:
    """With a context that trusts the CA, the certificate is verified and accepted."""
    with SmtpServer(tls=certificates.server_context, require_starttls=True) as server:
        context = certificates.client_context()
        url = f"{server.url}?starttls=1&timeout=5"
        with SmtpTransport.from_url(url, ssl_context=context) as transport:
            transport.send(make_message(), sender=SENDER, recipient="jane@example.org")
        assert server.messages[0].tls


def test_it_sends_over_implicit_tls(certificates: Certificates) -> None:
    """smtps:// speaks TLS from the first byte, with login."""
    with SmtpServer(
        tls=certificates.server_context, implicit_tls=True, auth={"alice": PASSWORD}
    ) as server:
        url = server.url.replace("//", f"//alice:{QUOTED_PASSWORD}@") + "?timeout=5"
        with SmtpTransport.from_url(url, ssl_context=certificates.client_context()) as transport:
            transport.send(make_message(), sender=SENDER, recipient="jane@example.org")
        (received,) = server.messages
    assert received.tls
    assert received.authenticated


def test_a_wrong_password_is_a_connection_failure(certificates: Certificates) -> None:
    """A refused login stops the batch; the message says so without the password."""
    with SmtpServer(tls=certificates.server_context, auth={"alice": PASSWORD}) as server:
        url = server.url.replace("//", "//alice:wrong-secret@") + "?starttls=1&verify=0"
        transport = SmtpTransport.from_url(url)
        with pytest.raises(ConnectionFailure, match="535") as caught:
            transport.open()
    assert not caught.value.permanent
    assert "wrong-secret" not in str(caught.value)


def test_a_stopped_server_is_a_connection_failure() -> None:
    """Connection refused is a temporary, connection-level failure."""
    server = SmtpServer()
    server.start()
    server.stop()
    transport = transport_for(server)
    with pytest.raises(ConnectionFailure, match="cannot connect") as caught:
        transport.open()
    assert not caught.value.permanent
    with pytest.raises(ConnectionFailure):
        transport.send(make_message(), sender=SENDER, recipient="jane@example.org")


def test_a_silent_server_times_out_as_a_connection_failure() -> None:
    """A server that accepts but never greets hits the timeout."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        transport = SmtpTransport.from_url(f"smtp://127.0.0.1:{port}?timeout=0.2")
        with pytest.raises(ConnectionFailure, match="timed out"):
            transport.open()


def test_a_451_at_data_is_a_temporary_failure(server: SmtpServer) -> None:
    """A 4xx reply fails this message for now; the connection goes on to the next one."""
    server.fail_next_data(451, "4.3.0 try again later")
    with transport_for(server) as transport:
        with pytest.raises(DeliveryError) as caught:
            transport.send(make_message(number=1), sender=SENDER, recipient="jane@example.org")
        transport.send(make_message(number=2), sender=SENDER, recipient="jane@example.org")
    assert not caught.value.permanent
    assert not isinstance(caught.value, ConnectionFailure)
    assert str(caught.value) == "SMTP 451 for jane@example.org: 4.3.0 try again later"
    assert [m.message["Subject"] for m in server.messages] == ["Digest 2"]
    assert server.connections == 1


def test_a_550_for_one_recipient_is_permanent_and_the_batch_goes_on(server: SmtpServer) -> None:
    """A rejected recipient fails for good; the others in the batch are delivered."""
    server.reject_recipient("gone@example.org", 550, "5.1.1 mailbox unavailable")
    recipients = ["a@example.org", "gone@example.org", "c@example.org"]
    failures: list[DeliveryError] = []
    with transport_for(server) as transport:
        for number, recipient in enumerate(recipients, start=1):
            try:
                transport.send(make_message(recipient, number), sender=SENDER, recipient=recipient)
            except DeliveryError as exc:
                failures.append(exc)
    (failure,) = failures
    assert failure.permanent
    assert str(failure) == "SMTP 550 for gone@example.org: 5.1.1 mailbox unavailable"
    assert [m.rcpt_tos for m in server.messages] == [("a@example.org",), ("c@example.org",)]
    assert server.connections == 1


def test_a_5xx_at_mail_from_is_permanent(server: SmtpServer) -> None:
    """A refused sender is permanent, names MAIL FROM, and is the sender's, not the recipient's."""
    server.reject_sender(SENDER, 553, "5.7.1 sender not allowed")
    with (
        transport_for(server) as transport,
        pytest.raises(SenderRefused, match=r"MAIL FROM <.*>: 553 5\.7\.1") as caught,
    ):
        transport.send(make_message(), sender=SENDER, recipient="jane@example.org")
    assert caught.value.permanent
    assert not caught.value.names_recipient
    assert not isinstance(caught.value, ConnectionFailure)


def test_a_5xx_at_data_is_permanent(server: SmtpServer) -> None:
    """A message refused at the end of DATA fails for good."""
    server.fail_next_data(554, "5.6.0 message content rejected")
    with (
        transport_for(server) as transport,
        pytest.raises(DeliveryError, match="SMTP 554") as caught,
    ):
        transport.send(make_message(), sender=SENDER, recipient="jane@example.org")
    assert caught.value.permanent


def test_a_421_reply_during_a_message_fails_that_message_and_reconnects(
    server: SmtpServer,
) -> None:
    """421 at RCPT TO closes the session: a temporary failure of this message only."""
    server.reject_recipient("jane@example.org", 421, "4.7.0 too busy, closing")
    with transport_for(server) as transport:
        with pytest.raises(ConnectionLost, match="SMTP 421") as caught:
            transport.send(make_message(), sender=SENDER, recipient="jane@example.org")
        assert not caught.value.permanent
        transport.send(make_message(number=2), sender=SENDER, recipient="ana@example.org")
    assert [m.rcpt_tos for m in server.messages] == [("ana@example.org",)]
    assert server.connections == 2


def test_a_421_reply_to_mail_from_is_a_connection_failure(server: SmtpServer) -> None:
    """421 before any message began (twice, after one reconnect) stops the batch."""
    server.reject_sender(SENDER, 421, "4.7.0 too busy, closing")
    with transport_for(server) as transport, pytest.raises(ConnectionFailure, match="SMTP 421"):
        transport.send(make_message(), sender=SENDER, recipient="jane@example.org")


def test_it_reconnects_once_when_the_server_dropped_the_connection(server: SmtpServer) -> None:
    """An idle connection closed by the server is reopened before the next message."""
    with transport_for(server) as transport:
        transport.send(make_message(number=1), sender=SENDER, recipient="jane@example.org")
        server.drop_connections()
        transport.send(make_message(number=2), sender=SENDER, recipient="jane@example.org")
    assert [m.message["Subject"] for m in server.messages] == ["Digest 1", "Digest 2"]
    assert [m.connection for m in server.messages] == [1, 2]


def test_a_connection_dropped_during_data_is_lost_for_that_message(server: SmtpServer) -> None:
    """A drop after the message was handed over is not retried silently (no duplicates)."""
    server.drop_next_data()
    with transport_for(server) as transport:
        with pytest.raises(ConnectionLost, match=r"jane@example\.org") as caught:
            transport.send(make_message(number=1), sender=SENDER, recipient="jane@example.org")
        assert not isinstance(caught.value, ConnectionFailure)
        assert not caught.value.permanent
        # The transport stays usable: the next send connects again.
        transport.send(make_message(number=2), sender=SENDER, recipient="jane@example.org")
    assert [m.message["Subject"] for m in server.messages] == ["Digest 2"]
    assert server.connections == 2


@pytest.mark.parametrize("recipient", ["zoë@example.org", "a@b>\r\nRCPT TO:<evil@x.org", ""])
def test_an_unusable_envelope_address_fails_permanently_without_sending(
    server: SmtpServer, recipient: str
) -> None:
    """Non-ASCII or malformed addresses never reach an SMTP command line."""
    with transport_for(server) as transport, pytest.raises(DeliveryError) as caught:
        transport.send(make_message(), sender=SENDER, recipient=recipient)
    assert caught.value.permanent
    assert server.messages == []


def test_it_logs_one_line_per_message_without_body_or_password(
    certificates: Certificates, caplog: pytest.LogCaptureFixture
) -> None:
    """Debug logs name the recipient and Message-ID; never the body or the password."""
    caplog.set_level(logging.DEBUG, logger="trialwatch.mail")
    with SmtpServer(tls=certificates.server_context, auth={"alice": PASSWORD}) as server:
        server.reject_recipient("gone@example.org")
        url = server.url.replace("//", f"//alice:{QUOTED_PASSWORD}@") + "?starttls=1&verify=0"
        with SmtpTransport.from_url(url) as transport:
            transport.send(make_message(), sender=SENDER, recipient="jane@example.org")
            with pytest.raises(DeliveryError):
                transport.send(make_message(), sender=SENDER, recipient="gone@example.org")
    sent = [r for r in caplog.records if r.levelno == logging.DEBUG and "sent" in r.message]
    assert len(sent) == 1
    assert "<digest-1.abc@trialwatch.example.org>" in sent[0].message
    assert any(r.levelno == logging.WARNING and "gone@" in r.message for r in caplog.records)
    assert BODY_MARKER not in caplog.text
    assert PASSWORD not in caplog.text
    assert QUOTED_PASSWORD not in caplog.text


# --- SMTP URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.org", ("mail.example.org", 25, False, False, None)),
        ("smtp://u:p@mail.example.org?starttls=1", ("mail.example.org", 587, False, True, "u")),
        (
            "smtp://mail.example.org:2525?starttls=true",
            ("mail.example.org", 2525, False, True, None),
        ),
        ("smtps://u%40x:p@mail.example.org", ("mail.example.org", 465, True, False, "u@x")),
    ],
)
def test_it_parses_smtp_urls(url: str, expected: tuple[object, ...]) -> None:
    """Scheme, host, default ports, STARTTLS and the percent-decoded user."""
    s = parse_smtp_url(url)
    assert (s.host, s.port, s.implicit_tls, s.starttls, s.username) == expected


def test_it_parses_smtp_url_options() -> None:
    """timeout, verify and local_hostname are read from the query."""
    s = parse_smtp_url(
        f"smtp://me:{QUOTED_PASSWORD}@h:25?timeout=2.5&verify=0&local_hostname=tw.example"
    )
    assert (s.timeout, s.verify, s.local_hostname, s.password) == (
        2.5,
        False,
        "tw.example",
        PASSWORD,
    )
    assert PASSWORD not in repr(s)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://u:SECRET@h", "expected smtp://"),
        ("smtp://u:SECRET@", "missing host"),
        ("smtp://u:SECRET@h:99999", "port"),
        ("smtp://u:SECRET@h?starttls=maybe", "starttls must be 0 or 1"),
        ("smtps://u:SECRET@h?starttls=1", "starttls=1 does not apply"),
        ("smtp://u:SECRET@h?timeout=soon", "timeout"),
        ("smtp://u:SECRET@h?timeout=0", "timeout"),
        ("smtp://u:SECRET@h?tls=1", "unknown option 'tls'"),
        ("smtp://u:SECRET@h/path", "unexpected path"),
        ("smtp://:SECRET@h", "needs a user name"),
    ],
)
def test_a_bad_smtp_url_is_a_config_error_without_the_password(url: str, problem: str) -> None:
    """Errors name TRIALWATCH_SMTP_URL and the problem, and hide the password."""
    with pytest.raises(ConfigError, match="TRIALWATCH_SMTP_URL") as caught:
        parse_smtp_url(url)
    assert problem in str(caught.value)
    assert "SECRET" not in str(caught.value)


# --- choosing a transport ----------------------------------------------------------------------


def test_make_transport_chooses_by_the_mail_setting(tmp_path: Path) -> None:
    """file:DIR gives a FileTransport, smtp an SmtpTransport from the URL."""
    file_transport = make_transport(f"file:{tmp_path}", "smtp://mail.example.org:2525")
    assert isinstance(file_transport, FileTransport)
    assert file_transport.directory == tmp_path
    smtp_transport = make_transport("smtp", "smtp://mail.example.org:2525")
    assert isinstance(smtp_transport, SmtpTransport)
    assert smtp_transport.settings.port == 2525


@pytest.mark.parametrize("mail", ["auto", "AUTO", "", " auto "])
def test_auto_mail_means_smtp_when_a_url_is_set_else_the_outbox_folder(mail: str) -> None:
    """auto (the default) sends over SMTP with a URL and writes to outbox/ without one."""
    smtp_transport = make_transport(mail, "smtp://user:secret@mail.example.org:587?starttls=1")
    assert isinstance(smtp_transport, SmtpTransport)
    assert (smtp_transport.kind, smtp_transport.destination) == (
        "smtp",
        "smtp://mail.example.org:587",
    )
    file_transport = make_transport(mail, " ")
    assert isinstance(file_transport, FileTransport)
    assert (file_transport.kind, file_transport.destination) == ("file", "outbox/")


def test_an_smtps_destination_names_the_scheme_and_never_the_password() -> None:
    """The destination shown to people is scheme, host and port only."""
    transport = make_transport("smtp", f"smtps://tw:{QUOTED_PASSWORD}@[::1]:465?verify=0")
    assert transport.destination == "smtps://[::1]:465"


@pytest.mark.parametrize(
    ("mail", "smtp_url", "setting"),
    [
        ("pigeon", "", "TRIALWATCH_MAIL"),
        ("file:", "", "TRIALWATCH_MAIL"),
        ("smtp:x", "", "TRIALWATCH_MAIL"),
        ("auto:x", "", "TRIALWATCH_MAIL"),
        ("auto", "smtp://", "TRIALWATCH_SMTP_URL"),
        ("smtp", "", "TRIALWATCH_SMTP_URL"),
        ("smtp", "smtp://", "TRIALWATCH_SMTP_URL"),
    ],
)
def test_make_transport_rejects_bad_settings(mail: str, smtp_url: str, setting: str) -> None:
    """A bad mail setting, or smtp without a usable URL, is a ConfigError naming the setting."""
    with pytest.raises(ConfigError, match=f"^{setting}:"):
        make_transport(mail, smtp_url)


# --- files -------------------------------------------------------------------------------------


def test_the_file_transport_writes_parseable_eml_files(tmp_path: Path) -> None:
    """Each message lands in <message-id>.eml in a folder created on demand."""
    outbox = tmp_path / "outbox" / "nested"
    with FileTransport(outbox) as transport:
        transport.send(make_message(number=1), sender=SENDER, recipient="jane@example.org")
        transport.send(make_message(number=2), sender=SENDER, recipient="john@example.org")
    files = sorted(p.name for p in outbox.iterdir())
    assert files == [
        "digest-1.abc@trialwatch.example.org.eml",
        "digest-2.abc@trialwatch.example.org.eml",
    ]
    parsed = email.message_from_bytes((outbox / files[0]).read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "Digest 1"
    assert (outbox / files[0]).read_bytes() == make_message(number=1)
    assert stat.S_IMODE((outbox / files[0]).stat().st_mode) == 0o600


def test_the_file_transport_is_idempotent_per_message_id(tmp_path: Path) -> None:
    """Sending the same Message-ID again replaces the file and leaves no temporary files."""
    transport = FileTransport(tmp_path)
    transport.send(make_message("a@example.org", 1), sender=SENDER, recipient="a@example.org")
    transport.send(make_message("b@example.org", 1), sender=SENDER, recipient="b@example.org")
    (only,) = tmp_path.iterdir()
    assert only.read_bytes() == make_message("b@example.org", 1)


def test_the_file_transport_sanitises_the_file_name(tmp_path: Path) -> None:
    """A hostile Message-ID cannot escape the folder or hide the file."""
    message = make_message().replace(
        b"<digest-1.abc@trialwatch.example.org>", b"<../../etc/passwd@x>"
    )
    FileTransport(tmp_path).send(message, sender=SENDER, recipient="jane@example.org")
    assert [p.name for p in tmp_path.iterdir()] == ["_.._etc_passwd@x.eml"]


def test_the_file_transport_needs_a_message_id(tmp_path: Path) -> None:
    """A message without Message-ID cannot be stored idempotently: a permanent failure."""
    with pytest.raises(DeliveryError, match="Message-ID") as caught:
        FileTransport(tmp_path).send(
            b"Subject: x\r\n\r\nbody\r\n", sender=SENDER, recipient="a@b.c"
        )
    assert caught.value.permanent


def test_an_unwritable_outbox_is_a_connection_failure(tmp_path: Path) -> None:
    """A folder that cannot be created stops the batch like an unreachable server."""
    (tmp_path / "file").write_text("in the way")
    transport = FileTransport(tmp_path / "file" / "outbox")
    with pytest.raises(ConnectionFailure, match="mail folder"):
        transport.open()
