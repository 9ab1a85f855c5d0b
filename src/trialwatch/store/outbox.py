"""The outbox: digest rows, their claims and outcomes; and the change feed digests read.

Claiming is atomic on both databases: one ``WITH picked AS (candidates) UPDATE … SET
status = 'sending' WHERE status = 'queued' AND id IN (SELECT id FROM picked) RETURNING
id`` takes a batch of at most the limit; on PostgreSQL the candidates are selected once
(``MATERIALIZED``) ``FOR UPDATE SKIP LOCKED``, so concurrent senders pass over each
other's rows, and on SQLite the statement holds the write lock. Only the ids returned
belong to this sender.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, true, update
from sqlalchemy.orm import Session

from trialwatch.store.models import Digest, Subscriber


def queue(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert queued messages in one executemany (no ids fetched back)."""
    if rows:
        session.execute(insert(Digest), [{"status": "queued", "attempts": 0, **r} for r in rows])


def release_stale(session: Session, now: datetime, lease: timedelta) -> int:
    """Rows left 'sending' by a sender that died go back to the queue (same Message-ID)."""
    result = session.execute(
        update(Digest)
        .where(Digest.status == "sending", Digest.claimed_at < now - lease)
        .values(status="queued", claimed_at=None, claim_owner=None)
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
    """Take up to ``limit`` due rows for this sender; commit before sending them.

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
            .values(status="sending", claimed_at=now, claim_owner=owner)
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


def mark_failed(
    session: Session, digest_id: int, error: str, *, bounce_at: datetime | None
) -> None:
    row = session.get_one(Digest, digest_id)
    row.status = "failed"
    row.claimed_at = None
    row.claim_owner = None
    row.attempts += 1
    row.last_error = error
    if bounce_at is not None and row.subscriber_id is not None:  # alerts have no subscriber
        subscriber = session.get_one(Subscriber, row.subscriber_id)
        subscriber.status = "bounced"
        subscriber.bounced_at = bounce_at


def retry_failed(session: Session, now: datetime) -> int:
    result = session.execute(
        update(Digest)
        .where(Digest.status == "failed")
        .values(status="queued", attempts=0, next_attempt_at=now, last_error=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def purge_sent(session: Session, before: datetime) -> int:
    """Delete messages sent before ``before`` (their changes stay; only the copies go)."""
    result = session.execute(delete(Digest).where(Digest.status == "sent", Digest.sent_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Digest.status, func.count()).group_by(Digest.status)).tuples()
    return {status: int(count) for status, count in rows}


def recent(session: Session, limit: int = 20, status: str | None = None) -> list[Digest]:
    query = select(Digest).order_by(Digest.id.desc()).limit(limit)
    if status:
        query = query.where(Digest.status == status)
    return list(session.scalars(query))
