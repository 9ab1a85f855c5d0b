"""Errors raised by TrialWatch.

Every error the package raises on purpose derives from :class:`TrialwatchError`;
library exceptions (httpx, SQLAlchemy, smtplib) are wrapped at the module that
uses the library and never leave it::

    TrialwatchError
    ├── ConfigError              bad settings or watchlist file       (exit 2)
    ├── NotFoundError            unknown watchlist slug, NCT ID, ...  (exit 2)
    ├── RegistryError            a registry could not give what we asked (exit 1)
    │   ├── RegistryUnavailable  transient: connect error, timeout, 429, 5xx, CTIS's 403
    │   └── RegistryBadResponse  permanent: 4xx, malformed JSON
    │       ├── PageLoop         page tokens that never end (a loop)
    │       └── ResultCapExceeded  more results than one query may page (CTIS: 10,000)
    ├── DatabaseError            the database is unreachable or failed (exit 1)
    ├── InvalidToken             a signed link is forged or tampered  (exit 2)
    ├── LockHeld                 another sync holds the watchlist lock (exit 3)
    ├── LostLeadership           another `run` process holds the leader lease now
    ├── LockLost                 a held lock's database connection ended (exit 1)
    └── DeliveryError            mail could not be delivered          (exit 1)
        ├── SenderRefused        4xx/5xx at MAIL FROM: our sender, not the recipient
        ├── ConnectionFailure    the transport failed: stop, leave the rest queued
        └── ConnectionLost       the connection broke during one message
            └── DeliveryUncertain  the data was sent, its acknowledgement never came
"""

from __future__ import annotations


class TrialwatchError(Exception):
    """Base class of every error TrialWatch raises on purpose."""

    exit_code = 1


class ConfigError(TrialwatchError):
    """A setting, watchlist file or command-line value is invalid."""

    exit_code = 2


class NotFoundError(TrialwatchError):
    """Something named on the command line does not exist."""

    exit_code = 2


class RegistryError(TrialwatchError):
    """A registry (its API or its pages) could not give us what we asked for."""


class RegistryUnavailable(RegistryError):
    """A transient failure: the API was unreachable, slow, rate-limiting or failing."""


class RegistryBadResponse(RegistryError):
    """A permanent failure: the API rejected the request or answered nonsense."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class PageLoop(RegistryBadResponse):
    """The API kept sending page tokens past what its ``totalCount`` allows, or repeated one."""


class ResultCapExceeded(RegistryBadResponse):
    """A search matches more records than the registry will ever page through.

    EU CTIS answers at most ``cap`` (10,000) results to one query; past that the rest
    would be missed silently, so the search is refused whole. ``total`` is what the
    registry counted.
    """

    def __init__(self, message: str, *, total: int, cap: int) -> None:
        super().__init__(message)
        self.total = total
        self.cap = cap


class DatabaseError(TrialwatchError):
    """The database could not be reached or answered with an error."""


class InvalidToken(TrialwatchError):
    """A signed link token is malformed, tampered with, or signed with another key."""

    exit_code = 2


class LockHeld(TrialwatchError):
    """Another process is already syncing this watchlist."""

    exit_code = 3


class LostLeadership(TrialwatchError):
    """Another ``trialwatch run`` process holds the leader lease now: stop acting."""


class LockLost(TrialwatchError):
    """A lock this process held is gone (its database connection ended): stop the job."""


class DeliveryError(TrialwatchError):
    """An email could not be delivered.

    ``permanent`` is true when retrying cannot help (a 5xx reply). ``names_recipient``
    is true only when the refusal is about this recipient's mailbox: a 5xx reply to
    its RCPT TO, or a 5.1.x / 5.2.1 enhanced code after DATA; only such a refusal may
    bounce a subscriber. ``answer`` is the server's reply (``550 5.1.1 ...``) when
    there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        names_recipient: bool = False,
        answer: str | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.names_recipient = names_recipient
        self.answer = answer


class SenderRefused(DeliveryError):
    """The server refused our sender at MAIL FROM: no recipient is at fault.

    A TrialWatch-side problem: stop the pass and leave the messages queued, uncounted.
    Never bounces anyone. ``permanent`` (5xx: the sender address, the relay's
    permissions) means an admin must be told; 4xx (a rate limit) passes by itself.
    """

    def __init__(self, message: str, *, answer: str, permanent: bool = True) -> None:
        super().__init__(message, permanent=permanent, answer=answer)


class ConnectionFailure(DeliveryError):
    """The transport itself failed: stop the batch and leave the rest queued.

    Raised when the server is unreachable, times out, fails the TLS handshake or
    the login, or drops the connection before a message's transaction (and for a
    folder that cannot be written). Never permanent.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=False)


class ConnectionLost(DeliveryError):
    """The connection failed during one message's transaction: a temporary failure of it.

    The message may have been delivered (if the server took DATA and the reply was
    lost). The transport has closed its side; the next send connects again.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=False)


class DeliveryUncertain(ConnectionLost):
    """The whole message was sent, but its acknowledgement never came (timeout, deadline,
    dropped connection): the server may have it. Retried at most once, then recorded as
    sent, unconfirmed; never failed.
    """


def first_line(exc: BaseException | None) -> str:
    """The first line of an error's message, for one-line reports ("unknown error" if none)."""
    text = str(exc).strip() if exc is not None else ""
    return text.splitlines()[0] if text else "unknown error"
