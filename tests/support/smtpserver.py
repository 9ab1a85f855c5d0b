"""A real SMTP server for tests: aiosmtpd in a thread on 127.0.0.1, with fault injection.

    with SmtpServer() as server:
        server.reject_recipient("gone@example.org")        # 550 at RCPT TO
        server.fail_next_data(451, times=2)                 # 451 at DATA, twice
        server.drop_data_for("flaky@example.org")           # hang up at its DATA
        server.reject_every_sender()                        # 550 5.7.1 at every MAIL FROM
        server.reject_every_recipient(554, "5.7.1 relay denied")  # same 5xx for all RCPTs
        server.acknowledge_slowly(5.0)                      # take DATA, answer 250 5 s later
        server.tarpit(1.0)                                  # every reply, one byte a second
        ... send to server.url ...
        assert server.messages[0].message["Subject"] == "..."
        assert server.connections == 1

TLS: pass ``tls=`` a server context (see :func:`make_certificates`) for STARTTLS
(``implicit_tls=False``, the default) or for TLS from the first byte
(``implicit_tls=True``, an ``smtps://`` server). ``auth={"user": "password"}``
requires AUTH (PLAIN or LOGIN) over TLS before MAIL FROM.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any, AnyStr, Self

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    message: EmailMessage
    connection: int
    """Which connection (1, 2, ... since start or clear) delivered it."""
    tls: bool
    """Whether the connection was encrypted (STARTTLS or implicit TLS)."""
    authenticated: bool


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""

    ca: trustme.CA
    server_context: ssl.SSLContext

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the CA (and verifies the host name)."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


def make_certificates() -> Certificates:
    """Issue a server certificate for ``127.0.0.1`` and ``localhost`` from a new CA."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST, "localhost").configure_cert(server_context)
    return Certificates(ca=ca, server_context=server_context)


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 and a free port, recording what it receives."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        require_starttls: bool = False,
        auth: dict[str, str] | None = None,
    ) -> None:
        self.host = HOST
        self.port = 0
        self.implicit_tls = implicit_tls
        self.messages: list[Received] = []
        self.connections = 0
        """Connections accepted since :meth:`start` or :meth:`clear`."""
        self._auth = dict(auth or {})
        self._lock = threading.Condition()
        self._live: set[_RecordingSMTP] = set()
        self._rejections: dict[str, str] = {}
        self._sender_rejections: dict[str, str] = {}
        self._data_failures: list[str] = []
        self._drops = 0
        self._lost_acks = 0
        self._drop_recipients: dict[str, bool] = {}
        self._every_sender: str | None = None
        self._every_recipient: str | None = None
        self._ack_delay: float | None = None
        self._slow_acks: int | None = None
        self._tarpit: float | None = None
        smtp_kwargs: dict[str, Any] = {}
        if tls is not None and not implicit_tls:
            smtp_kwargs.update(tls_context=tls, require_starttls=require_starttls)
        if auth is not None:
            smtp_kwargs.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=True
            )
        self._controller = _Controller(
            self,
            _Handler(self),
            ssl_context=tls if implicit_tls else None,
            **smtp_kwargs,
        )

    @property
    def url(self) -> str:
        """``smtp://127.0.0.1:PORT`` (``smtps://`` for implicit TLS), without credentials."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def open_connections(self) -> int:
        """Connections the server has not seen closed yet."""
        with self._lock:
            return len(self._live)

    # -- life cycle --

    def start(self) -> None:
        """Start listening on a free port (set in :attr:`port`)."""
        self._controller.start()
        self.clear()

    def stop(self) -> None:
        """Stop listening and close every connection."""
        self.drop_connections()
        self._controller.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def clear(self) -> None:
        """Forget received messages, connection counts and pending faults."""
        with self._lock:
            self.messages.clear()
            self.connections = 0
            self._rejections.clear()
            self._sender_rejections.clear()
            self._data_failures.clear()
            self._drops = 0
            self._lost_acks = 0
            self._drop_recipients.clear()
            self._every_sender = self._every_recipient = None
            self._ack_delay = self._slow_acks = self._tarpit = None

    # -- fault injection --

    def reject_sender(
        self, address: str, code: int = 553, text: str = "5.7.1 sender not allowed"
    ) -> None:
        """Answer ``code text`` to ``MAIL FROM:<address>`` from now on."""
        with self._lock:
            self._sender_rejections[address.lower()] = f"{code} {text}"

    def reject_every_sender(
        self, code: int = 550, text: str = "5.7.1 Sender address rejected"
    ) -> None:
        """Answer ``code text`` to every ``MAIL FROM`` from now on (a relay refusing us)."""
        with self._lock:
            self._every_sender = f"{code} {text}"

    def reject_recipient(
        self, address: str, code: int = 550, text: str = "5.1.1 mailbox unavailable"
    ) -> None:
        """Answer ``code text`` to ``RCPT TO:<address>`` from now on."""
        with self._lock:
            self._rejections[address.lower()] = f"{code} {text}"

    def reject_every_recipient(self, code: int = 550, text: str = "5.7.1 Relaying denied") -> None:
        """Answer ``code text`` to every ``RCPT TO`` from now on (the same refusal for all)."""
        with self._lock:
            self._every_recipient = f"{code} {text}"

    def fail_next_data(
        self, code: int = 451, text: str = "4.3.0 try again later", times: int = 1
    ) -> None:
        """Answer ``code text`` at the end of DATA for the next ``times`` messages."""
        with self._lock:
            self._data_failures.extend([f"{code} {text}"] * times)

    def drop_next_data(self, times: int = 1) -> None:
        """Close the connection, without a reply, at the end of DATA for the next messages."""
        with self._lock:
            self._drops += times

    def lose_next_acknowledgment(self, times: int = 1) -> None:
        """Accept (and record) the next messages, then close the connection without a reply."""
        with self._lock:
            self._lost_acks += times

    def acknowledge_slowly(self, delay: float, times: int | None = None) -> None:
        """Accept (and record) messages at once, but answer ``250`` only ``delay`` s later.

        For the next ``times`` messages, or every message from now on with ``None``.
        A client whose timeout is shorter gives up before the reply: the message has
        arrived, and the client cannot know it.
        """
        with self._lock:
            self._ack_delay = delay
            self._slow_acks = times

    def tarpit(self, interval: float = 1.0) -> None:
        """Write every reply from now on (the greeting too) one byte per ``interval`` seconds.

        Each byte arrives well within a client's socket timeout; only a deadline on
        the whole transaction stops a client from waiting minutes.
        """
        with self._lock:
            self._tarpit = interval

    def drop_data_for(self, address: str, *, then_stop_listening: bool = False) -> None:
        """Close the connection, without a reply, at the end of DATA to ``address`` from now on.

        With ``then_stop_listening`` the server also stops accepting connections right
        then, so a client that reconnects is refused.
        """
        with self._lock:
            self._drop_recipients[address.lower()] = then_stop_listening

    def drop_connections(self, timeout: float = 5.0) -> None:
        """Close every open connection (as an idle timeout would) and wait until they are gone."""
        with self._lock:
            live = list(self._live)
        if live:
            future = asyncio.run_coroutine_threadsafe(_close(live), self._controller.loop)
            future.result(timeout)
        with self._lock:
            # A connection whose STARTTLS handshake failed never hears connection_lost.
            self._live.difference_update(live)
            self._lock.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` (checked under the server's lock) is true."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("SMTP test server: condition not met in time")
                self._lock.wait(remaining)

    # -- called from the server thread --

    def _connected(self, protocol: _RecordingSMTP) -> int:
        with self._lock:
            self.connections += 1
            self._live.add(protocol)
            self._lock.notify_all()
            return self.connections

    def _disconnected(self, protocol: _RecordingSMTP) -> None:
        with self._lock:
            self._live.discard(protocol)
            self._lock.notify_all()

    def _mail_status(self, address: str) -> str | None:
        with self._lock:
            return self._sender_rejections.get(address.lower()) or self._every_sender

    def _rcpt_status(self, address: str) -> str | None:
        with self._lock:
            return self._rejections.get(address.lower()) or self._every_recipient

    def _acknowledgment_delay(self) -> float | None:
        """Seconds to wait before answering 250 to an accepted message, or None."""
        with self._lock:
            if self._ack_delay is None or self._slow_acks == 0:
                return None
            if self._slow_acks is not None:
                self._slow_acks -= 1
            return self._ack_delay

    def _tarpit_interval(self) -> float | None:
        with self._lock:
            return self._tarpit

    def _data_status(self, recipients: list[str]) -> str | None:
        with self._lock:
            for recipient in recipients:
                if recipient.lower() in self._drop_recipients:
                    return "drop-and-stop" if self._drop_recipients[recipient.lower()] else "drop"
            if self._drops:
                self._drops -= 1
                return "drop"
            if self._lost_acks:
                self._lost_acks -= 1
                return "accept-and-drop"
            return self._data_failures.pop(0) if self._data_failures else None

    def _record(self, server: _RecordingSMTP, session: Session, envelope: Envelope) -> None:
        data = bytes(envelope.original_content or b"")
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        received = Received(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=data,
            message=parsed,
            connection=server.number,
            tls=server.transport is not None
            and server.transport.get_extra_info("ssl_object") is not None,
            authenticated=bool(session.authenticated),
        )
        with self._lock:
            self.messages.append(received)
            self._lock.notify_all()

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: object,
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode()
            if login in self._auth and self._auth[login] == auth_data.password.decode():
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


async def _close(protocols: list[_RecordingSMTP]) -> None:
    """Close the connections' transports, then let the loop run their connection_lost."""
    for protocol in protocols:
        for transport in (protocol.transport, protocol._original_transport):
            if transport is not None:
                transport.close()
    for _ in range(3):
        await asyncio.sleep(0)


class _RecordingSMTP(SMTP):
    """aiosmtpd's SMTP protocol, telling the owner about connections."""

    def __init__(self, owner: SmtpServer, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.owner = owner
        self.number = 0
        if owner.implicit_tls:
            # aiosmtpd counts only STARTTLS as TLS: it cannot see that the listening
            # socket itself is TLS, so it would never offer AUTH on an smtps:// port.
            self._auth_require_tls = False

    def connection_made(self, transport: Any) -> None:
        # Called again on the same connection after STARTTLS: count it once.
        if self._original_transport is None:
            self.number = self.owner._connected(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.owner._disconnected(self)
        super().connection_lost(error)

    async def push(self, status: AnyStr) -> None:
        interval = self.owner._tarpit_interval()
        if interval is None:
            await super().push(status)
            return
        if isinstance(status, str):
            status_bytes = status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii")
        else:
            status_bytes = bytes(status)
        response = status_bytes + b"\r\n"
        for index in range(len(response)):
            await asyncio.sleep(interval)
            if self.transport is None or self.transport.is_closing():
                return
            self._writer.write(response[index : index + 1])
            await self._writer.drain()


class _Handler:
    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_MAIL(
        self,
        server: _RecordingSMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        status = self.owner._mail_status(address)
        if status is not None:
            return status
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: _RecordingSMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        status = self.owner._rcpt_status(address)
        if status is not None:
            return status
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(
        self, server: _RecordingSMTP, session: Session, envelope: Envelope
    ) -> str:
        status = self.owner._data_status(envelope.rcpt_tos)
        if status in ("drop", "drop-and-stop"):
            assert server.transport is not None
            if status == "drop-and-stop":
                listener = self.owner._controller.server
                assert isinstance(listener, asyncio.Server)
                listener.close()
            server.transport.close()
            return "421 4.4.2 dropped"  # never reaches the client
        if status == "accept-and-drop":
            self.owner._record(server, session, envelope)
            assert server.transport is not None
            server.transport.close()
            return "250 2.0.0 OK queued"  # never reaches the client
        if status is not None:
            return status
        self.owner._record(server, session, envelope)
        delay = self.owner._acknowledgment_delay()
        if delay is not None:
            await asyncio.sleep(delay)
        return "250 2.0.0 OK queued"


class _Controller(Controller):
    """A Controller that binds port 0 and makes :class:`_RecordingSMTP` protocols."""

    def __init__(self, owner: SmtpServer, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, hostname=HOST, port=0, server_hostname="localhost", **kwargs)
        self.owner = owner

    def factory(self) -> _RecordingSMTP:
        return _RecordingSMTP(self.owner, self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # The server is bound by now: learn the port the system chose, then let
        # aiosmtpd connect once to check that the factory works.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.owner.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()
