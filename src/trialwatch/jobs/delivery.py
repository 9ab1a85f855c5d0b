"""Delivering the outbox: claim queued messages, send them, record each outcome.

``send_digests_once`` claims queued rows atomically, delivers them over one
connection and records each outcome right after the server's answer; a row whose
sender died is re-queued with the same Message-ID after a lease, so a duplicate is
at worst the same message.

A server that cannot be reached leaves every message queued, uncounted. A
connection lost during one message counts as a failed attempt of that message
(retried with backoff, failed after the maximum); the sender reconnects and goes
on with the rest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from trialwatch.clock import utcnow
from trialwatch.errors import ConnectionFailure, DeliveryError
from trialwatch.mail.transport import MailTransport
from trialwatch.store import outbox
from trialwatch.store.db import session_scope

log = logging.getLogger("trialwatch.jobs.delivery")


@dataclass
class SendResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    bounced: int = 0
    released: int = 0
    error: str | None = None
    seconds: float = 0.0
    transport: str = ""
    """``"smtp"`` or ``"file"``."""
    destination: str = ""
    """Where the messages went: ``smtp://host:587`` (never a password) or ``outbox/``."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "transport": self.transport,
            "destination": self.destination,
            "sent": self.sent,
            "retried": self.retried,
            "failed": self.failed,
            "bounced": self.bounced,
            "released": self.released,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


def send_summary(sent: dict[str, Any]) -> str:
    """One line for people from :meth:`SendResult.to_dict`: how many, and where they went."""
    count = int(sent["sent"])
    if sent.get("transport") == "file":
        where = f"wrote {count} file{'' if count == 1 else 's'} to {sent['destination']}"
    elif sent.get("destination"):
        where = f"sent {count} over {sent['destination']}"
    else:
        where = f"sent {count}"
    return f"{where}, deferred {sent['retried']}, failed {sent['failed']}"


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4, ... minutes after each temporary failure, at most 6 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def send_digests_once(
    engine: Engine,
    transport: MailTransport,
    *,
    sender: str,
    now: Callable[[], datetime] = utcnow,
    batch_size: int = 50,
    max_attempts: int = 8,
    lease: timedelta = timedelta(minutes=15),
    owner: str | None = None,
    kinds: Collection[str] | None = None,
    budget: float | None = None,
    keep_going: Callable[[], bool] | None = None,
) -> SendResult:
    """Deliver every due queued message; stop (leaving the rest queued) if the server is down.

    ``owner`` names this sender in its claims; ``kinds`` limits the pass to those kinds
    (``("confirm",)`` for the web's transactional mail); the pass stops claiming after
    ``budget`` seconds, and between messages as soon as ``keep_going()`` is false (a
    lost lease): what it claimed and did not send goes back to the queue.
    """
    started = time.perf_counter()
    result = SendResult(transport=transport.kind, destination=transport.destination)
    envelope_from = parseaddr(sender)[1] or sender
    # One connection for the whole run: each outcome is still its own transaction.
    with engine.connect() as connection:
        factory = sessionmaker(bind=connection, expire_on_commit=False)
        with session_scope(factory) as session:
            result.released = outbox.release_stale(session, now(), lease)
        pass_ = _Pass(
            owner=owner,
            kinds=kinds,
            deadline=None if budget is None else started + budget,
            keep_going=keep_going or (lambda: True),
        )
        _deliver(factory, transport, envelope_from, now, batch_size, max_attempts, result, pass_)
    result.seconds = time.perf_counter() - started
    log.info(
        "digests sent sent=%d retried=%d failed=%d bounced=%d seconds=%.2f",
        result.sent,
        result.retried,
        result.failed,
        result.bounced,
        result.seconds,
    )
    return result


@dataclass(frozen=True)
class _Pass:
    """What limits one delivery pass: whose claims, which kinds, until when, while what."""

    owner: str | None
    kinds: Collection[str] | None
    deadline: float | None  # time.perf_counter() value
    keep_going: Callable[[], bool]

    def over(self) -> bool:
        """True when the pass must stop taking messages (budget spent or lease lost)."""
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            return True
        return not self.keep_going()


def _deliver(
    factory: sessionmaker[Session],
    transport: MailTransport,
    envelope_from: str,
    now: Callable[[], datetime],
    batch_size: int,
    max_attempts: int,
    result: SendResult,
    pass_: _Pass,
) -> None:
    opened = False
    try:
        while not pass_.over():
            with session_scope(factory) as session:
                batch = outbox.claim(
                    session, now(), batch_size, owner=pass_.owner, kinds=pass_.kinds
                )
            if not batch:
                break
            for index, row in enumerate(batch):
                if index and pass_.over():
                    # Budget spent or lease lost: the rest of the batch goes back, untried.
                    with session_scope(factory) as session:
                        for pending in batch[index:]:
                            outbox.mark_retry(
                                session,
                                pending.id,
                                pending.last_error or "",
                                pending.next_attempt_at,
                                count=False,
                            )
                    return
                try:
                    if not opened:
                        transport.open()
                        opened = True
                    transport.send(
                        row.message.encode("utf-8", errors="surrogateescape"),
                        sender=envelope_from,
                        recipient=row.recipient,
                    )
                except ConnectionFailure as exc:
                    # The server is unreachable: this and the rest of the batch stay queued
                    # as they were; the next run tries again. (A connection lost during one
                    # message is ConnectionLost, an ordinary temporary failure of that
                    # message below: the next send reconnects.)
                    result.error = str(exc)
                    with session_scope(factory) as session:
                        for pending in batch[index:]:
                            outbox.mark_retry(
                                session, pending.id, str(exc), pending.next_attempt_at, count=False
                            )
                    log.warning(
                        "mail server unavailable, %d left queued: %s", len(batch) - index, exc
                    )
                    return
                except DeliveryError as exc:
                    _record_failure(factory, row.id, row.attempts, exc, now(), max_attempts, result)
                    continue
                with session_scope(factory) as session:
                    outbox.mark_sent(session, row.id, now())
                result.sent += 1
    finally:
        if opened:
            transport.close()


def _record_failure(
    factory: sessionmaker[Session],
    digest_id: int,
    attempts: int,
    exc: DeliveryError,
    now: datetime,
    max_attempts: int,
    result: SendResult,
) -> None:
    with session_scope(factory) as session:
        if exc.permanent:
            outbox.mark_failed(session, digest_id, str(exc), bounce_at=now)
            result.failed += 1
            result.bounced += 1
            log.warning("digest %d rejected permanently: %s", digest_id, exc)
        elif attempts + 1 >= max_attempts:
            outbox.mark_failed(session, digest_id, str(exc), bounce_at=None)
            result.failed += 1
            log.warning("digest %d failed after %d attempts: %s", digest_id, attempts + 1, exc)
        else:
            outbox.mark_retry(session, digest_id, str(exc), now + retry_delay(attempts + 1))
            result.retried += 1
            log.info("digest %d deferred (attempt %d): %s", digest_id, attempts + 1, exc)
