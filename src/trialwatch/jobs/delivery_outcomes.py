"""The outcomes of a delivery pass, each recorded right after the server's answer.

:class:`Pass` holds one pass's limits and result and records each message's
outcome (sent, retried with backoff, failed, bounced, unconfirmed) in its own
transaction; whose fault a refusal is (see :mod:`trialwatch.jobs.delivery`) is
judged here, holding permanent refusals until the pass shows whose they are.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from trialwatch.errors import DeliveryError, DeliveryUncertain
from trialwatch.store import outbox
from trialwatch.store.db import session_scope
from trialwatch.store.models import Digest

log = logging.getLogger("trialwatch.jobs.delivery")

UNCERTAIN_COPIES = 2
"""Attempts whose data was sent unacknowledged before a message is recorded unconfirmed."""


@dataclass
class SendResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    bounced: int = 0
    unconfirmed: int = 0
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
            "unconfirmed": self.unconfirmed,
            "released": self.released,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4, ... minutes after each temporary failure, at most 6 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


UNRECORDED: defaultdict[str, set[int]] = defaultdict(set)
"""Per owner: messages delivered whose outcome the database did not take."""


@dataclass
class Pass:
    """One delivery pass: its limits, its result, and the refusals it holds back.

    A permanent refusal is held until the pass shows whose it is: once a message is
    delivered or two refusals differ, each held one is judged alone; at the end, two
    or more alike with nothing delivered are the sender's.
    """

    factory: sessionmaker[Session]
    now: Callable[[], datetime]
    max_attempts: int
    result: SendResult
    owner: str
    kinds: Collection[str] | None
    deadline: float | None  # time.perf_counter() value
    keep_going: Callable[[], bool]
    held: list[tuple[Digest, DeliveryError]] = field(default_factory=list)
    mixed: bool = False

    def over(self) -> bool:
        """True when the pass must stop taking messages (budget spent or lease lost).

        The budget is checked once a message has been tried: a pass whose connecting
        and claiming alone took the budget (a slow server, a loaded machine) still
        moves the queue by one message. A lost lease stops it at once.
        """
        if not self.keep_going():
            return True
        r = self.result
        tried = r.sent + r.retried + r.failed + r.bounced + r.unconfirmed + len(self.held)
        return self.deadline is not None and tried > 0 and time.perf_counter() >= self.deadline

    def put_back(self, rows: list[Digest], error: str | None = None) -> None:
        """Claimed rows go back to the queue as they were, uncounted."""
        with session_scope(self.factory) as session:
            for row in rows:
                outbox.mark_retry(
                    session, row.id, error or row.last_error or "", row.next_attempt_at, count=False
                )

    def sent(self, row: Digest) -> None:
        try:
            with session_scope(self.factory) as session:
                outbox.mark_sent(session, row.id, self.now())
        except SQLAlchemyError:
            # Delivered, but the database did not hear of it: the next pass records it.
            UNRECORDED[self.owner].add(row.id)
            log.error("digest %d sent but not recorded: the database failed", row.id)
            raise
        self.result.sent += 1
        self._judge_held()

    def refused(self, row: Digest, exc: DeliveryError) -> None:
        """A permanent refusal: judged alone, or held while it may be the sender's."""
        if self.mixed:
            self._fail(row, exc)
        elif self.held and _alike(self.held[0]) != _alike((row, exc)):
            self.held.append((row, exc))
            self._judge_held()
        else:
            self.held.append((row, exc))

    def settle(self) -> None:
        """At the end of the pass: judge the refusals still held."""
        held, self.held = self.held, []
        if len(held) < 2:
            for row, exc in held:
                self._fail(row, exc)
            return
        answer = held[0][1].answer or str(held[0][1])
        error = (
            f"the mail server refused all {len(held)} recipients alike: {answer} "
            "(the sender's problem, not the subscribers': nobody was bounced)"
        )
        self.result.error = f"{error}; then {self.result.error}" if self.result.error else error
        log.error("delivery stopped: sender problem refused=%d answer=%s", len(held), answer)
        for row, exc in held:
            self.temporary(row, exc, prefix=f"{outbox.SENDER_REFUSED}every recipient refused: ")

    def temporary(self, row: Digest, exc: DeliveryError, prefix: str = "") -> None:
        """A failed attempt that may succeed later: retried with backoff, or failed at the max."""
        error = f"{prefix}{exc}"
        with session_scope(self.factory) as session:
            if row.attempts + 1 >= self.max_attempts:
                status = outbox.mark_failed(session, row.id, error, now=self.now(), bounce=False)
                self._count(status)
                log.warning(
                    "digest %d %s after %d attempts: %s", row.id, status, row.attempts + 1, exc
                )
                return
            outbox.mark_retry(session, row.id, error, self.now() + retry_delay(row.attempts + 1))
        self.result.retried += 1
        log.info("digest %d deferred (attempt %d): %s", row.id, row.attempts + 1, exc)

    def uncertain(self, row: Digest, exc: DeliveryUncertain) -> None:
        """Data sent, never acknowledged: one more copy after the backoff, then unconfirmed."""
        now = self.now()
        last = row.uncertain + 1 >= UNCERTAIN_COPIES or row.attempts + 1 >= self.max_attempts
        with session_scope(self.factory) as session:
            outbox.mark_uncertain(
                session,
                row.id,
                str(exc),
                now,
                None if last else now + retry_delay(row.attempts + 1),
            )
        if last:
            self.result.unconfirmed += 1
            log.warning(
                "digest %d sent, unconfirmed (%d copies): %s", row.id, row.uncertain + 1, exc
            )
        else:
            self.result.retried += 1
            log.info("digest %d unacknowledged, retried once after the backoff: %s", row.id, exc)

    def _judge_held(self) -> None:
        self.mixed = True
        held, self.held = self.held, []
        for row, exc in held:
            self._fail(row, exc)

    def _fail(self, row: Digest, exc: DeliveryError) -> None:
        """A refusal about this message alone; it bounces the subscriber if it names them."""
        bounce = exc.names_recipient and row.subscriber_id is not None
        with session_scope(self.factory) as session:
            status = outbox.mark_failed(session, row.id, str(exc), now=self.now(), bounce=bounce)
        self._count(status)
        self.result.bounced += int(bounce)
        log.warning("digest %d rejected permanently bounced=%s: %s", row.id, bounce, exc)

    def _count(self, status: str) -> None:
        if status == "unconfirmed":
            self.result.unconfirmed += 1
        else:
            self.result.failed += 1


def _alike(refusal: tuple[Digest, DeliveryError]) -> str:
    """A refusal's answer without the recipient's address, to compare refusals of a pass."""
    row, exc = refusal
    answer = exc.answer or str(exc)
    answer = re.sub(re.escape(row.recipient), "", answer, flags=re.IGNORECASE)
    return " ".join(answer.replace("<>", " ").lower().split())
