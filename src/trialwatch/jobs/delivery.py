"""Delivering the outbox: claim queued messages, send them, record each outcome.

``send_digests_once`` claims queued rows atomically in the name of its ``owner``
(``host:pid:start``), delivers them over one connection and records each outcome
right after the server's answer. Claims are stamped and judged by the database's
clock; a claim goes back to the queue (same Message-ID) when its owner gives it
back, when its owner is an earlier incarnation of a process of this host that is
gone (at once), or when its owner holds no live lease and the claim is older than
``lease`` (see :func:`trialwatch.store.outbox.release_stale`).

Whose fault a failure is decides what it does:

* A server that cannot be reached (:class:`ConnectionFailure`, including a
  transaction cut off at the SMTP URL's ``deadline``) leaves every message queued,
  uncounted, and stops the pass.
* A refusal at MAIL FROM (:class:`SenderRefused`) is the sender's problem: the
  messages stay queued, uncounted, nobody is bounced, the pass stops and reports
  the server's answer (``SendResult.error``; for a 5xx the health check alerts the
  admins).
* A permanent refusal bounces a subscriber only when it names that recipient (5xx
  at RCPT TO, 5.1.x or 5.2.1 after DATA) and the pass shows it is about that
  recipient: the same refusal for every recipient of a pass (two or more, none
  delivered) is the sender's problem too: the messages are retried with backoff
  (failed after the maximum), nobody is bounced, and the pass reports it. A
  permanent refusal that names no recipient fails its message only.
* A connection lost during one message (:class:`ConnectionLost`) counts as a failed
  attempt of that message (retried with backoff, failed after the maximum); the
  sender reconnects and goes on with the rest.
* Data sent but never acknowledged (:class:`DeliveryUncertain`: a slow
  acknowledgement, a dropped connection or the deadline after the data) may have
  arrived: it is retried once, after the normal backoff, and then recorded as sent,
  unconfirmed (status ``unconfirmed``), never failed.

Each outcome is recorded by :class:`~trialwatch.jobs.delivery_outcomes.Pass`.

The pass stops taking messages when its ``budget`` is spent or ``keep_going()``
turns false (checked between messages); what it claimed and did not try goes back
to the queue uncounted.

Each outcome is written on a connection taken from the pool just then (checked
before use), so a database connection cut while the mail server works costs
nothing. If the database cannot be reached to record an outcome, the error ends
the pass (the caller's step fails and is retried); a message delivered but not
recorded is remembered by the process, and the next pass of the same owner records
it as sent before it gives back the other claims that pass left: nothing waits for
a lease to expire and nothing is sent twice while the process lives. Passes of one
owner run one at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from trialwatch.clock import utcnow
from trialwatch.errors import ConnectionFailure, DeliveryError, DeliveryUncertain, SenderRefused
from trialwatch.jobs import claimants
from trialwatch.jobs.delivery_outcomes import UNRECORDED, Pass, SendResult
from trialwatch.mail.transport import MailTransport
from trialwatch.store import outbox
from trialwatch.store.db import session_scope
from trialwatch.store.models import Digest

__all__ = ["SendResult", "message_in_flight", "send_digests_once", "send_summary"]

log = logging.getLogger("trialwatch.jobs.delivery")


def send_summary(sent: dict[str, Any]) -> str:
    """One line for people from :meth:`SendResult.to_dict`: how many, and where they went."""
    count = int(sent["sent"])
    if sent.get("transport") == "file":
        where = f"wrote {count} file{'' if count == 1 else 's'} to {sent['destination']}"
    elif sent.get("destination"):
        where = f"sent {count} over {sent['destination']}"
    else:
        where = f"sent {count}"
    line = f"{where}, deferred {sent['retried']}, failed {sent['failed']}"
    if sent.get("unconfirmed"):
        line += f", sent unconfirmed {sent['unconfirmed']}"
    return line


def _release_claims(
    factory: sessionmaker[Session],
    owner: str,
    now: datetime,
    lease: timedelta,
    result: SendResult,
) -> None:
    """Before a pass: record what this owner delivered unrecorded, give back its own
    claims and those of gone or lease-less owners."""
    with session_scope(factory) as session:
        recorded = outbox.mark_delivered_later(session, UNRECORDED[owner], owner, now)
        own = outbox.release_own(session, owner)
        gone = [o for o in outbox.claim_owners(session) if claimants.is_gone(o)]
        result.released = own + outbox.release_stale(session, lease, gone=gone)
    UNRECORDED[owner].clear()
    if result.released or recorded:
        log.info(
            "claims released released=%d own=%d gone_owners=%d recorded_sent=%d",
            result.released,
            own,
            len(gone),
            recorded,
        )


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
    """Deliver every due queued message; stop (leaving the rest queued) on a sender problem.

    ``owner`` names this sender in its claims (default: this process, ``host:pid:start``);
    ``kinds`` limits the pass to those kinds (``("confirm",)`` for the web's
    transactional mail); the pass stops claiming after ``budget`` seconds, and between
    messages as soon as ``keep_going()`` is false (a lost lease): what it claimed and
    did not send goes back to the queue uncounted.
    """
    started = time.perf_counter()
    result = SendResult(transport=transport.kind, destination=transport.destination)
    envelope_from = parseaddr(sender)[1] or sender
    owner = owner or claimants.owner_name()
    # Each outcome is its own transaction on a pooled connection (pre-pinged).
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with _owner_lock(owner):
        _release_claims(factory, owner, now(), lease, result)
        pass_ = Pass(
            factory=factory,
            now=now,
            max_attempts=max_attempts,
            result=result,
            owner=owner,
            kinds=kinds,
            deadline=None if budget is None else started + budget,
            keep_going=keep_going or (lambda: True),
        )
        try:
            _deliver(pass_, transport, envelope_from, batch_size)
        finally:
            pass_.settle()
    result.seconds = time.perf_counter() - started
    log.info(
        "digests sent sent=%d retried=%d failed=%d bounced=%d unconfirmed=%d seconds=%.2f",
        result.sent,
        result.retried,
        result.failed,
        result.bounced,
        result.unconfirmed,
        result.seconds,
    )
    return result


_IN_FLIGHT = [0]
_IN_FLIGHT_LOCK = threading.Lock()


@contextmanager
def _in_flight() -> Iterator[None]:
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT[0] += 1
    try:
        yield
    finally:
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT[0] -= 1


def message_in_flight() -> bool:
    """Whether a pass of this process is between a message's data and its recorded outcome.

    A stop signal then waits for the pass's next look at ``keep_going()``: interrupting
    it would leave a delivered message unrecorded, to be sent again by the next run.
    """
    return _IN_FLIGHT[0] > 0


_OWNER_LOCKS: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_LOCKS_LOCK = threading.Lock()


def _owner_lock(owner: str) -> threading.Lock:
    """The lock that makes the passes of one owner in this process run one at a time."""
    with _LOCKS_LOCK:
        return _OWNER_LOCKS[owner]


def _deliver(pass_: Pass, transport: MailTransport, envelope_from: str, batch_size: int) -> None:
    opened = False
    try:
        while not pass_.over():
            with session_scope(pass_.factory) as session:
                batch = outbox.claim(
                    session, pass_.now(), batch_size, owner=pass_.owner, kinds=pass_.kinds
                )
            if not batch:
                break
            for index, row in enumerate(batch):
                if index and pass_.over():
                    # Budget spent or lease lost: the rest of the batch goes back, untried.
                    pass_.put_back(batch[index:])
                    return
                # From the data to its recorded outcome a stop signal waits (see
                # message_in_flight): a message the server took is recorded before a stop.
                with _in_flight():
                    try:
                        # send() connects when needed: connecting and the first message share
                        # one transaction deadline.
                        opened = True
                        transport.send(
                            row.message.encode("utf-8", errors="surrogateescape"),
                            sender=envelope_from,
                            recipient=row.recipient,
                        )
                    except (ConnectionFailure, SenderRefused) as exc:
                        _stop(pass_, batch[index:], exc)
                        return
                    except DeliveryUncertain as exc:
                        pass_.uncertain(row, exc)
                    except DeliveryError as exc:
                        if exc.permanent:
                            pass_.refused(row, exc)
                        else:
                            pass_.temporary(row, exc)
                    else:
                        pass_.sent(row)
    finally:
        if opened:
            transport.close()


def _stop(pass_: Pass, rest: list[Digest], exc: ConnectionFailure | SenderRefused) -> None:
    """The server is unreachable or refuses the sender: the rest stay queued, uncounted.

    (A connection lost during one message is ConnectionLost, an ordinary temporary
    failure of that message: the next send reconnects.)
    """
    if isinstance(exc, SenderRefused):
        pass_.result.error = (
            f"{exc} (the sender's problem, not the subscribers': nobody was bounced)"
        )
        # Marked for the health check's alert only when the refusal is permanent (5xx).
        pass_.put_back(rest, f"{outbox.SENDER_REFUSED}{exc}" if exc.permanent else str(exc))
        log.error("delivery stopped: sender refused left_queued=%d: %s", len(rest), exc)
        return
    pass_.result.error = str(exc)
    pass_.put_back(rest, str(exc))
    log.warning("mail server unavailable, %d left queued: %s", len(rest), exc)
