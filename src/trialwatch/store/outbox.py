"""The outbox: digest rows, their claims and outcomes; and the change feed digests read.

Claiming is atomic on both databases: one ``WITH picked AS (candidates) UPDATE … SET
status = 'sending' WHERE status = 'queued' AND id IN (SELECT id FROM picked) RETURNING
id`` takes a batch of at most the limit; on PostgreSQL the candidates are selected once
(``MATERIALIZED``) ``FOR UPDATE SKIP LOCKED``, so concurrent senders pass over each
other's rows, and on SQLite the statement holds the write lock. Only the ids returned
belong to this sender.

Claims carry their owner (``host:pid:start``) and are stamped and judged by the
database's clock (:func:`database_now`), never a sender's own: a claim goes back to
the queue only when its owner releases it, or its owner is known dead, or its owner
holds no live lease and the claim is older than the lease (see :func:`release_stale`).

Statuses: ``queued``, ``sending`` (claimed), ``sent``, ``unconfirmed`` (the data was
sent twice and never acknowledged: sent, unconfirmed; final), ``failed``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.models import Digest, Lease, Subscriber
from trialwatch.store.models import UTCDateTime as _UTCDateTime

SENDER_REFUSED = "sender refused: "
"""How ``last_error`` starts when the server refused TrialWatch itself, not a recipient."""


def queue(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert queued messages in one executemany (no ids fetched back)."""
    if rows:
        session.execute(insert(Digest), [{"status": "queued", "attempts": 0, **r} for r in rows])


def database_now(session: Session) -> datetime:
    """The database's clock: ``now()`` on PostgreSQL; this host's clock on SQLite (one host)."""
    if session.get_bind().dialect.name == "postgresql":
        value: datetime = session.execute(select(func.now())).scalar_one()
        return value.astimezone(UTC)
    return datetime.now(UTC)


def _clock(session: Session, minus: timedelta = timedelta(0)) -> ColumnElement[datetime]:
    """The database's clock less ``minus``, as SQL (evaluated by the server on PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.now() - minus if minus else func.now()
    return literal(datetime.now(UTC) - minus, _UTCDateTime())


def claim_owners(session: Session) -> list[str]:
    """The distinct owners of the claims now held (rows 'sending')."""
    query = select(Digest.claim_owner).where(Digest.status == "sending").distinct()
    return [owner for owner in session.scalars(query) if owner is not None]


def release_stale(session: Session, lease: timedelta, *, gone: Collection[str] = ()) -> int:
    """Give claims back to the queue (same Message-ID); how many.

    Released: the claims of ``gone`` owners (processes known dead, such as an earlier
    incarnation of this one), and claims older than ``lease`` by the database's clock
    whose owner holds no live lease (table ``lease``). A live owner gives its own
    claims back itself (:func:`mark_retry` with ``count=False``).
    """
    live_owners = select(Lease.owner).where(Lease.expires_at > _clock(session))
    stale = (Digest.claimed_at < _clock(session, lease)) & or_(
        Digest.claim_owner.is_(None), Digest.claim_owner.not_in(live_owners)
    )
    released = or_(stale, Digest.claim_owner.in_(list(gone))) if gone else stale
    result = session.execute(
        update(Digest)
        .where(Digest.status == "sending", released)
        .values(status="queued", claimed_at=None, claim_owner=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def release_own(session: Session, owner: str) -> int:
    """Give back the claims ``owner`` still holds from an earlier pass; how many.

    Only for a sender that knows none of its passes is running: one that stopped on a
    database error left its claims ``sending``.
    """
    result = session.execute(
        update(Digest)
        .where(Digest.status == "sending", Digest.claim_owner == owner)
        .values(status="queued", claimed_at=None, claim_owner=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def mark_delivered_later(
    session: Session, digest_ids: Collection[int], owner: str, now: datetime
) -> int:
    """Record as sent messages ``owner`` delivered but could not record then; how many."""
    if not digest_ids:
        return 0
    result = session.execute(
        update(Digest)
        .where(
            Digest.id.in_(list(digest_ids)),
            Digest.status.in_(("sending", "queued")),
            or_(Digest.claim_owner == owner, Digest.claim_owner.is_(None)),
        )
        .values(
            status="sent",
            sent_at=now,
            attempts=Digest.attempts + 1,
            last_error=None,
            claimed_at=None,
            claim_owner=None,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def claim(
    session: Session,
    now: datetime,
    limit: int,
    *,
    owner: str | None = None,
    kinds: Collection[str] | None = None,
) -> list[Digest]:
    """Take up to ``limit`` rows due by ``now`` for ``owner``; commit before sending them.

    The claim is stamped with the database's clock, whatever ``now`` says.

    The candidates are picked once, in a CTE (``MATERIALIZED`` and ``FOR UPDATE SKIP
    LOCKED`` on PostgreSQL), and the UPDATE takes only those: a subquery in the WHERE
    clause could be re-run per row and claim more than ``limit``.
    """
    picked_select = (
        select(Digest.id)
        .where(Digest.status == "queued", Digest.next_attempt_at <= now)
        .where(Digest.kind.in_(list(kinds)) if kinds is not None else true())
        # Served by the (status, next_attempt_at) index however many rows were sent.
        .order_by(Digest.next_attempt_at, Digest.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        picked_select = picked_select.with_for_update(skip_locked=True)
        picked = picked_select.cte("picked").prefix_with("MATERIALIZED")
    else:
        picked = picked_select.cte("picked")
    claimed = list(
        session.scalars(
            update(Digest)
            .where(Digest.id.in_(select(picked.c.id)), Digest.status == "queued")
            .values(status="sending", claimed_at=_clock(session), claim_owner=owner)
            .returning(Digest.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not claimed:
        return []
    return list(session.scalars(select(Digest).where(Digest.id.in_(claimed)).order_by(Digest.id)))


_DIGESTS = cast(Table, Digest.__table__)
# A Core statement built once: marking a row sent runs once per message.
_MARK_SENT = (
    update(_DIGESTS)
    .where(_DIGESTS.c.id == bindparam("digest_id"))
    .values(
        status="sent",
        sent_at=bindparam("sent_at", type_=_DIGESTS.c.sent_at.type),
        attempts=_DIGESTS.c.attempts + 1,
        last_error=None,
        claimed_at=None,
        claim_owner=None,
    )
)


def mark_sent(session: Session, digest_id: int, now: datetime) -> None:
    session.execute(_MARK_SENT, {"digest_id": digest_id, "sent_at": now})


def mark_retry(
    session: Session, digest_id: int, error: str, next_attempt_at: datetime, *, count: bool = True
) -> None:
    values: dict[str, Any] = {
        "status": "queued",
        "claimed_at": None,
        "claim_owner": None,
        "last_error": error,
        "next_attempt_at": next_attempt_at,
    }
    if count:
        values["attempts"] = Digest.attempts + 1
    session.execute(update(Digest).where(Digest.id == digest_id).values(**values))


def mark_uncertain(
    session: Session, digest_id: int, error: str, now: datetime, retry_at: datetime | None
) -> None:
    """The data was sent and never acknowledged: retry at ``retry_at``, or with None
    record the message as sent, unconfirmed (status ``unconfirmed``, final)."""
    values: dict[str, Any] = {
        "claimed_at": None,
        "claim_owner": None,
        "last_error": error,
        "attempts": Digest.attempts + 1,
        "uncertain": Digest.uncertain + 1,
    }
    if retry_at is None:
        values.update(status="unconfirmed", sent_at=now)
    else:
        values.update(status="queued", next_attempt_at=retry_at)
    session.execute(update(Digest).where(Digest.id == digest_id).values(**values))


def mark_failed(
    session: Session, digest_id: int, error: str, *, now: datetime, bounce: bool
) -> str:
    """The message failed for good; with ``bounce`` its subscriber is bounced too.

    A message an earlier copy of which may have arrived (``uncertain``) is recorded as
    ``unconfirmed``, never ``failed``. Returns the status given.
    """
    row = session.get_one(Digest, digest_id)
    row.status = "unconfirmed" if row.uncertain else "failed"
    if row.uncertain:
        row.sent_at = now
    row.claimed_at = None
    row.claim_owner = None
    row.attempts += 1
    row.last_error = error
    if bounce and row.subscriber_id is not None:  # alerts have no subscriber
        subscriber = session.get_one(Subscriber, row.subscriber_id)
        subscriber.status = "bounced"
        subscriber.bounced_at = now
    return row.status


def retry_failed(session: Session, now: datetime) -> int:
    result = session.execute(
        update(Digest)
        .where(Digest.status == "failed")
        .values(status="queued", attempts=0, next_attempt_at=now, last_error=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Requeued:
    requeued: int
    reactivated: int
    """Bounced subscribers made active again because one of their messages was re-queued."""


def requeue_failed(session: Session, now: datetime) -> Requeued:
    """Queue every failed message again, and reactivate the bounced subscribers among them."""
    owners = set(
        session.scalars(
            select(Digest.subscriber_id).where(
                Digest.status == "failed", Digest.subscriber_id.is_not(None)
            )
        )
    )
    requeued = retry_failed(session, now)
    reactivated = sum(
        subscriber_store.reactivate(session, subscriber_id, now)
        for subscriber_id in sorted(i for i in owners if i is not None)
    )
    return Requeued(requeued=requeued, reactivated=reactivated)


def sender_refusals(session: Session) -> tuple[int, str | None]:
    """Waiting or failed messages last refused as the sender's fault, and the newest error."""
    refused = (
        Digest.status.in_(("queued", "failed")),
        Digest.last_error.startswith(SENDER_REFUSED, autoescape=True),
    )
    count = int(session.scalar(select(func.count()).select_from(Digest).where(*refused)) or 0)
    latest = session.scalar(
        select(Digest.last_error).where(*refused).order_by(Digest.id.desc()).limit(1)
    )
    return count, latest


def bounced_since(session: Session, since: datetime) -> int:
    """Subscribers marked bounced at or after ``since``."""
    query = select(func.count()).select_from(Subscriber)
    query = query.where(Subscriber.status == "bounced", Subscriber.bounced_at >= since)
    return int(session.scalar(query) or 0)


def purge_sent(session: Session, before: datetime) -> int:
    """Delete messages sent (or sent, unconfirmed) before ``before``; their changes stay."""
    result = session.execute(
        delete(Digest).where(Digest.status.in_(("sent", "unconfirmed")), Digest.sent_at < before)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Digest.status, func.count()).group_by(Digest.status)).tuples()
    return {status: int(count) for status, count in rows}


def recent(session: Session, limit: int = 20, status: str | None = None) -> list[Digest]:
    query = select(Digest).order_by(Digest.id.desc()).limit(limit)
    if status:
        query = query.where(Digest.status == status)
    return list(session.scalars(query))
