"""Timestamps written by a clock that was ahead: found and brought back to now.

A process whose clock ran 30 days ahead for one cycle writes ``last_digest_at``,
``last_synced_at`` and run times 30 days ahead, and every schedule that reads them
would wait for that date. :func:`clamp_future` sets each such value to ``now``. A
column may legitimately lie ahead by up to its ``lead`` (a lease's expiry, a retry's
next attempt); only what lies beyond that is clamped. Rows in, rows out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from trialwatch.store.models import (
    Digest,
    HealthAlert,
    Lease,
    Subscriber,
    Subscription,
    SyncRun,
    Watchlist,
)

SLACK = timedelta(minutes=1)
"""Clocks of replicas differ by seconds: what is less than this ahead is left alone."""


@dataclass(frozen=True)
class Clamped:
    """One column's clamped values: how many, and how far ahead the furthest was."""

    column: str
    count: int
    furthest: timedelta


# (column, how far ahead of now a value may rightly be)
_COLUMNS: tuple[tuple[InstrumentedAttribute[datetime | None], timedelta], ...] = (
    (Subscription.last_digest_at, timedelta(0)),
    (Subscription.created_at, timedelta(0)),
    (Watchlist.last_synced_at, timedelta(0)),
    (Watchlist.members_listed_at, timedelta(0)),
    (Watchlist.created_at, timedelta(0)),
    (Watchlist.updated_at, timedelta(0)),
    (SyncRun.started_at, timedelta(0)),
    (SyncRun.finished_at, timedelta(0)),
    (Subscriber.confirm_sent_at, timedelta(0)),
    (HealthAlert.started_at, timedelta(0)),
    (Lease.acquired_at, timedelta(0)),
    (Lease.expires_at, timedelta(hours=1)),  # the longest lease (TRIALWATCH_LEASE_SECONDS)
    (Digest.next_attempt_at, timedelta(hours=6)),  # the longest retry delay
)


def clamp_future(session: Session, now: datetime) -> list[Clamped]:
    """Set every timestamp further ahead of ``now`` than its column allows to ``now``."""
    clamped = []
    for column, lead in _COLUMNS:
        limit = now + lead + SLACK
        furthest = session.scalar(select(func.max(column)).where(column > limit))
        if furthest is None:
            continue
        result = session.execute(
            update(column.class_)
            .where(column > limit)
            .values({column.key: now})
            .execution_options(synchronize_session=False)
        )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        name = f"{column.class_.__tablename__}.{column.key}"
        clamped.append(Clamped(name, count, furthest - now))
    return clamped
