"""Mail transports: deliver built messages over SMTP or into a folder of ``.eml`` files.

This is the only module that imports :mod:`smtplib`. Every smtplib and socket
error is turned into :class:`~trialwatch.errors.DeliveryError` here:

* :class:`ConnectionFailure` (never permanent): the server could not be reached,
  timed out, refused the TLS handshake or the login, dropped the connection before a
  message's transaction began, or did not finish connecting within the deadline.
  Nothing more can be sent in this batch; leave the rest queued.
* :class:`SenderRefused`: a 4xx or 5xx reply to MAIL FROM (permanent for 5xx). The
  server refuses TrialWatch's sender, not a recipient: nobody may be bounced for it;
  stop the batch.
* :class:`ConnectionLost` (never permanent): the connection dropped, timed out or
  was closed with 421 during one message, before its data was complete. The message
  did not arrive; count the attempt and go on: the next :meth:`~SmtpTransport.send`
  reconnects.
* :class:`DeliveryUncertain` (a ConnectionLost): the whole message was sent and the
  final reply never came (timeout, deadline, dropped connection). It may have
  arrived; the caller retries it at most once.
* ``DeliveryError(permanent=True)``: a 5xx reply to RCPT TO or DATA;
  ``names_recipient`` says whether it is about the recipient's mailbox (any 5xx at
  RCPT TO; after DATA only a 5.1.x or 5.2.1 enhanced code), the only kind that may
  bounce a subscriber. ``answer`` is the server's reply.
* ``DeliveryError(permanent=False)``: a 4xx reply to RCPT TO or DATA; try this
  message again later.

Every transaction (connecting, or one message from MAIL FROM to the final reply, and
QUIT) has a whole ``deadline`` besides the per-reply ``timeout``: a server that
trickles its replies a byte at a time, each within the timeout, is cut off there.

A batch uses one connection::

    with make_transport(settings.mail, settings.smtp_url) as transport:
        for message in batch:
            transport.send(message.data, sender=envelope_from, recipient=message.to)

``TRIALWATCH_MAIL`` chooses the transport: ``auto`` (the default) is ``smtp`` when
``TRIALWATCH_SMTP_URL`` is set and ``file:outbox`` otherwise; ``file:DIR`` writes
each message to ``DIR/<message-id>.eml``; ``smtp`` sends through
``TRIALWATCH_SMTP_URL``:

* ``smtp://user:pass@host:587?starttls=1``: plain connection upgraded by STARTTLS;
* ``smtps://user:pass@host:465``: implicit TLS;
* ``smtp://host:25``: no encryption (a local relay);
* options ``timeout=30`` (seconds for one reply), ``deadline=60`` (seconds for a
  whole transaction), ``verify=0`` (do not check the server's certificate, for
  self-signed test servers only) and ``local_hostname=NAME`` (the name sent in
  EHLO). User and password are percent-decoded.

Size: over the ~400-line aim because it is the one smtplib boundary: every SMTP
phase maps its failures to the error tree here.

Over 400 lines because it is the only smtplib user: the SMTP session, its deadlines
and the mapping of every server answer to bounce, retry or stop belong together.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import logging
import os
import re
import smtplib
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from trialwatch.errors import (
    ConfigError,
    ConnectionFailure,
    ConnectionLost,
    DeliveryError,
    DeliveryUncertain,
    SenderRefused,
)
from trialwatch.mail.smtp_url import SmtpSettings, parse_smtp_url

log = logging.getLogger("trialwatch.mail")

_ENVELOPE_UNSAFE_RE = re.compile(r"[\x00-\x20<>\x7f]")
_FILE_NAME_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._@+=-]")
_LEADING_DOT_RE = re.compile(rb"(?m)^\.")
# Enhanced status codes about the recipient's mailbox: 5.1.x (address), 5.2.1 (disabled).
_MAILBOX_CODE_RE = re.compile(r"5\.(?:1\.\d{1,3}|2\.1)(?!\.?\d)")


class MailTransport(Protocol):
    """Something that delivers messages: opened once per batch, then closed."""

    @property
    def kind(self) -> str:
        """``"smtp"`` or ``"file"``."""
        ...

    @property
    def destination(self) -> str:
        """Where messages go, for people: ``smtp://host:587`` (never a password) or ``DIR/``."""
        ...

    def open(self) -> None:
        """Connect (raises :class:`ConnectionFailure`)."""

    def send(self, message: bytes, *, sender: str, recipient: str) -> None:
        """Deliver ``message`` to ``recipient`` (raises DeliveryError)."""

    def close(self) -> None:
        """Disconnect; never raises."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class BaseTransport:
    """Gives a transport ``with`` support: ``open()`` on entry, ``close()`` on exit."""

    def open(self) -> None:
        """Prepare for sending."""

    def close(self) -> None:
        """Release what :meth:`open` took."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --- SMTP ------------------------------------------------------------------------------------


class SmtpTransport(BaseTransport):
    """Send through an SMTP server, over one connection per batch.

    :meth:`send` opens the connection if needed. If the server closed an idle
    connection, :meth:`send` notices before the message is handed over (at MAIL
    FROM), reconnects once and carries on. ``ssl_context`` replaces the default
    (system trust store, or no verification with ``verify=0``).
    """

    def __init__(self, settings: SmtpSettings, *, ssl_context: ssl.SSLContext | None = None):
        self.settings = settings
        self._ssl_context = ssl_context
        self._conn: smtplib.SMTP | None = None
        self._watchdog: _Deadline | None = None

    @classmethod
    def from_url(cls, url: str, *, ssl_context: ssl.SSLContext | None = None) -> SmtpTransport:
        """Make a transport from a ``TRIALWATCH_SMTP_URL`` (ConfigError if malformed)."""
        return cls(parse_smtp_url(url), ssl_context=ssl_context)

    def __repr__(self) -> str:
        return f"SmtpTransport({self.settings!r})"

    @property
    def kind(self) -> str:
        """Always ``"smtp"``."""
        return "smtp"

    @property
    def destination(self) -> str:
        """The server as ``smtp://host:port`` or ``smtps://host:port``, without credentials."""
        return self.settings.display_url

    def open(self) -> None:
        """Connect, upgrade to TLS and log in as configured (raises ConnectionFailure)."""
        try:
            with self._deadline():
                self._ensure_open()
        except ConnectionFailure as exc:
            log.warning("%s", exc)
            raise

    def close(self) -> None:
        """Say QUIT (within the deadline) and close the connection; errors are ignored."""
        conn = self._conn
        if conn is None:
            return
        with self._deadline():
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()
        self._conn = None

    def send(self, message: bytes, *, sender: str, recipient: str) -> None:
        """Deliver one message (raises DeliveryError or ConnectionFailure)."""
        message_id = _message_id(message) or "(no Message-ID)"
        try:
            _check_envelope(sender, recipient)
            with self._deadline():
                self._transaction(message, sender=sender, recipient=recipient)
        except DeliveryError as exc:
            log.warning(
                "mail to %s failed message_id=%s permanent=%s: %s",
                recipient,
                message_id,
                exc.permanent,
                exc,
            )
            raise
        log.debug(
            "mail sent to %s via %s message_id=%s bytes=%d",
            recipient,
            self.settings.address,
            message_id,
            len(message),
        )

    # -- internals --

    @contextlib.contextmanager
    def _deadline(self) -> Iterator[_Deadline]:
        """Cut the connection off when the transaction outlives ``deadline`` seconds."""
        deadline = _Deadline(self.settings.deadline)
        deadline.watch(self._conn)
        self._watchdog = deadline
        try:
            with deadline:
                yield deadline
        finally:
            self._watchdog = None
            if deadline.passed:
                self._drop()  # its socket is shut down: the next send reconnects

    def _why(self, exc: BaseException) -> str:
        """What went wrong, for people: the deadline if it cut the connection off."""
        if self._cut_off():
            return (
                f"no answer within the deadline of {self.settings.deadline:g} s "
                "(deadline= in TRIALWATCH_SMTP_URL)"
            )
        return _describe(exc)

    def _ensure_open(self) -> None:
        if self._conn is None:
            self._conn = self._connect()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        timeout = s.timeout
        if self._watchdog is not None:
            timeout = min(timeout, self._watchdog.remaining())
        conn: smtplib.SMTP
        if s.implicit_tls:
            conn = smtplib.SMTP_SSL(
                local_hostname=s.local_hostname, timeout=timeout, context=self._context()
            )
        else:
            conn = smtplib.SMTP(local_hostname=s.local_hostname, timeout=timeout)
        # Connecting apart from construction lets the deadline watch the greeting too;
        # smtplib takes the TLS server name from _host, which only __init__ would set.
        conn._host = s.host  # type: ignore[attr-defined]
        if self._watchdog is not None:
            self._watchdog.watch(conn)
        try:
            conn.connect(s.host, s.port)
            if conn.sock is not None:  # the connect was bounded by the deadline; reads are not
                conn.sock.settimeout(s.timeout)
            conn.ehlo()
            if s.starttls:
                conn.starttls(context=self._context())
                conn.ehlo()
            if s.username is not None:
                conn.login(s.username, s.password or "")
        except smtplib.SMTPNotSupportedError as exc:
            self._abandon(conn)
            raise ConnectionFailure(f"SMTP {s.address}: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            self._abandon(conn)
            raise ConnectionFailure(
                f"SMTP {exc.smtp_code} from {s.address} while connecting: {_text(exc.smtp_error)}"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._abandon(conn)
            raise ConnectionFailure(
                f"cannot connect to SMTP {s.address}: {self._why(exc)}"
            ) from exc
        log.debug("connected to SMTP %s", s.address)
        return conn

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is not None:
            return self._ssl_context
        context = ssl.create_default_context()
        if not self.settings.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    @staticmethod
    def _abandon(conn: smtplib.SMTP | None) -> None:
        if conn is not None:
            conn.close()

    def _transaction(self, message: bytes, *, sender: str, recipient: str) -> None:
        self._ensure_open()
        reply: bytes | str
        code, reply = self._mail_from(sender)
        if code in (421, -1) and not self._cut_off():
            # The server dropped the idle connection, or is closing it: nothing was
            # handed over yet, so reconnect once and start again.
            log.info("SMTP %s closed the connection; reconnecting", self.settings.address)
            self._drop()
            self._ensure_open()
            code, reply = self._mail_from(sender)
        if code != 250:
            self._fail(code, reply, f"MAIL FROM <{sender}>", phase="mail")
        # From here on a lost connection is this message's failure (ConnectionLost), not
        # the server's: the caller counts the attempt and the next send reconnects.
        conn = self._live()
        try:
            code, reply = conn.rcpt(recipient)
        except (smtplib.SMTPException, OSError) as exc:
            raise self._lost(recipient, exc) from exc
        if code not in (250, 251):
            self._fail(code, reply, recipient, phase="rcpt")
        code, reply = self._data(conn, message, recipient)
        if code != 250:
            self._fail(code, reply, recipient, phase="data")

    def _data(self, conn: smtplib.SMTP, message: bytes, recipient: str) -> tuple[int, bytes]:
        """DATA, the message, and the final reply; a reply that never comes is uncertain."""
        try:
            code, reply = conn.docmd("data")
            if code != 354:
                return code, reply
            conn.send(_dot_stuffed(message))
        except (smtplib.SMTPException, OSError) as exc:
            raise self._lost(recipient, exc) from exc
        try:
            return conn.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise DeliveryUncertain(
                f"SMTP {self.settings.address} took the message to {recipient} but never "
                f"acknowledged it ({self._why(exc)}); it may have arrived"
            ) from exc

    def _lost(self, recipient: str, exc: BaseException) -> ConnectionLost:
        self._drop()
        return ConnectionLost(
            f"SMTP {self.settings.address} lost the connection while sending to "
            f"{recipient}: {self._why(exc)}"
        )

    def _cut_off(self) -> bool:
        """True once the transaction's deadline has passed."""
        return self._watchdog is not None and self._watchdog.over()

    def _mail_from(self, sender: str) -> tuple[int, bytes]:
        """Say MAIL FROM; a connection that is gone gives code -1."""
        try:
            return self._live().mail(sender)
        except smtplib.SMTPServerDisconnected as exc:
            return -1, self._why(exc).encode()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise ConnectionFailure(
                f"SMTP {self.settings.address} failed at MAIL FROM: {self._why(exc)}"
            ) from exc

    def _live(self) -> smtplib.SMTP:
        if self._conn is None:
            raise ConnectionFailure(f"SMTP {self.settings.address}: not connected")
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._abandon(conn)

    def _fail(self, code: int, reply: bytes | str, what: str, *, phase: str) -> None:
        """Raise the error for a step refused at ``phase`` (mail, rcpt, data), after RSET.

        A connection closed (or closing, 421) during a message's transaction is
        :class:`ConnectionLost`; before it, :class:`ConnectionFailure`. A 5xx at MAIL
        FROM is :class:`SenderRefused`; a 5xx names the recipient at RCPT TO, and after
        DATA only with a 5.1.x or 5.2.1 enhanced code.
        """
        lost = ConnectionFailure if phase == "mail" else ConnectionLost
        if code < 0:
            self._drop()
            raise lost(
                f"SMTP {self.settings.address} dropped the connection at {what}: {_text(reply)}"
            )
        answer = f"{code} {_text(reply)}"
        text = f"SMTP {code} for {what}: {_text(reply)}"
        if code == 421:
            self._drop()
            raise lost(text)
        try:
            self._live().rset()
        except (smtplib.SMTPException, OSError):
            self._drop()  # the next send reconnects
        permanent = 500 <= code < 600
        if phase == "mail":
            raise SenderRefused(
                f"SMTP {self.settings.address} refused {what}: {answer}",
                answer=answer,
                permanent=permanent,
            )
        names = permanent and (phase == "rcpt" or _MAILBOX_CODE_RE.match(_text(reply)) is not None)
        raise DeliveryError(text, permanent=permanent, names_recipient=names, answer=answer)


class _Deadline:
    """A whole transaction's deadline: a timer that shuts the watched socket down.

    Socket timeouts bound each read; a server that trickles a reply one byte at a
    time never trips them. The timer does: the blocked read ends, and :attr:`passed`
    says why.
    """

    def __init__(self, seconds: float) -> None:
        self._ends = time.monotonic() + seconds
        self._conn: smtplib.SMTP | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self.passed = False

    def watch(self, conn: smtplib.SMTP | None) -> None:
        with self._lock:
            self._conn = conn
        if self.passed:
            self._expire()

    def remaining(self) -> float:
        return max(self._ends - time.monotonic(), 0.001)

    def over(self) -> bool:
        return self.passed or time.monotonic() >= self._ends

    def _expire(self) -> None:
        with self._lock:
            self.passed = True
            sock = getattr(self._conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Self:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _dot_stuffed(message: bytes) -> bytes:
    """The message as DATA sends it: leading dots doubled, ended by ``CRLF.CRLF``."""
    stuffed = _LEADING_DOT_RE.sub(b"..", message)
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


# --- files -----------------------------------------------------------------------------------


class FileTransport(BaseTransport):
    """Write each message to ``<directory>/<message-id>.eml`` instead of sending it.

    For development and for installs without a mail server. Writes are atomic
    (a temporary file renamed into place) and idempotent: sending a message with
    the same Message-ID again replaces the same file. Files are private to the
    owner (mode 0600): they hold subscribers' addresses.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"FileTransport({str(self.directory)!r})"

    @property
    def kind(self) -> str:
        """Always ``"file"``."""
        return "file"

    @property
    def destination(self) -> str:
        """The folder, with a trailing slash: ``outbox/``."""
        return f"{self.directory}/"

    def open(self) -> None:
        """Create the folder if needed (raises ConnectionFailure if it cannot)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConnectionFailure(f"cannot create mail folder {self.directory}: {exc}") from exc

    def send(self, message: bytes, *, sender: str, recipient: str) -> None:
        """Write the message file (raises ConnectionFailure if the folder is not writable)."""
        self.open()
        message_id = _message_id(message)
        if message_id is None:
            log.warning("mail to %s failed: no Message-ID header", recipient)
            raise DeliveryError("message has no Message-ID header", permanent=True)
        path = self.directory / f"{_file_stem(message_id)}.eml"
        temp: str | None = None
        try:
            fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(message)
            os.replace(temp, path)
            temp = None
        except OSError as exc:
            log.warning("mail to %s failed message_id=%s: %s", recipient, message_id, exc)
            raise ConnectionFailure(f"cannot write {path}: {exc}") from exc
        finally:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
        log.debug("mail to %s written to %s message_id=%s", recipient, path, message_id)


DEFAULT_MAIL_FOLDER = Path("outbox")


def make_transport(mail: str, smtp_url: str) -> MailTransport:
    """Return the transport the ``mail`` setting names: ``auto``, ``file:DIR`` or ``smtp``.

    ``auto`` (or an empty setting) means SMTP when ``smtp_url`` is set, else ``file:outbox``.
    """
    kind, _, rest = mail.strip().partition(":")
    kind = kind.lower()
    if kind in ("", "auto") and not rest:
        if smtp_url.strip():
            return SmtpTransport.from_url(smtp_url)
        return FileTransport(DEFAULT_MAIL_FOLDER)
    if kind == "file" and rest.strip():
        return FileTransport(Path(rest.strip()))
    if kind == "smtp" and not rest:
        if not smtp_url.strip():
            raise ConfigError("TRIALWATCH_SMTP_URL: required when TRIALWATCH_MAIL=smtp")
        return SmtpTransport.from_url(smtp_url)
    raise ConfigError(f"TRIALWATCH_MAIL: expected 'auto', 'smtp' or 'file:DIR', got {mail!r}")


# --- helpers ---------------------------------------------------------------------------------


def _check_envelope(sender: str, recipient: str) -> None:
    """Refuse addresses that could not go on an SMTP command line as they are."""
    for address in (sender, recipient):
        if not address.isascii() or _ENVELOPE_UNSAFE_RE.search(address) or "@" not in address:
            raise DeliveryError(
                f"cannot send to {recipient!r} from {sender!r}: not a plain ASCII address",
                permanent=True,
            )


def _text(reply: bytes | str) -> str:
    """A server reply on one line."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split()) or "(no text)"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message}); verify=0 skips the check"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return _text(str(exc)) if str(exc) else type(exc).__name__


def _message_id(message: bytes) -> str | None:
    """The Message-ID header of a message, or None."""
    head = message.partition(b"\r\n\r\n")[0]  # parse the header block only
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    value = headers.get("Message-ID")
    if value is None:
        return None
    return " ".join(str(value).split()) or None


def _file_stem(message_id: str) -> str:
    """A safe file name for a Message-ID: ``<a.b@c>`` -> ``a.b@c``."""
    stem = _FILE_NAME_UNSAFE_RE.sub("_", message_id.strip().strip("<>"))[:200]
    return stem.lstrip(".") or "message"
