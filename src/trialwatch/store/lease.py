"""The leader lease: one row per role, taken by whoever finds it free or expired.

Any number of ``trialwatch run`` processes may share a database; the one holding
the ``scheduler`` lease acts, the others stand by. Taking and renewing are single
conditional statements (an UPDATE that matches only a free, expired or own row, or
an INSERT that a concurrent taker's primary key makes fail), so two processes can
never both hold it: the database decides. PostgreSQL additionally backs the lease
with a session advisory lock held by the leader's connection
(:func:`trialwatch.store.locks.exclusive_lock`), so a leader whose process dies is
replaced as soon as the server notices, without waiting for the expiry.

Expiries are written and compared on the database's clock, not the process's: a
replica whose clock runs 16 minutes ahead would otherwise find a live leader's lease
long expired and take it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trialwatch.store.models import Lease

SCHEDULER = "scheduler"
"""The lease of the process that syncs, builds digests and sends mail."""


def take(
    session: Session,
    name: str,
    owner: str,
    ttl: timedelta,
    *,
    force: bool = False,
) -> bool:
    """Take or renew the lease for ``owner`` for ``ttl``; True if it is ours.

    It is ours when nobody holds it, its holder let it expire, or we hold it already;
    ``force`` takes it from a holder known to be dead (PostgreSQL: we got the
    leader's advisory lock). Times are the database's (:func:`database_now`). Commit
    right after: the lease is held once committed.
    """
    now = database_now(session)
    free = or_(Lease.owner == owner, Lease.expires_at <= now)
    taken = session.execute(
        update(Lease)
        .where(Lease.name == name, *([] if force else [free]))
        .values(owner=owner, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    if int(taken.rowcount or 0) == 1:  # type: ignore[attr-defined]
        return True
    if session.scalar(select(Lease.name).where(Lease.name == name)) is not None:
        return False  # held by someone else, not expired
    try:
        with session.begin_nested():
            session.execute(
                insert(Lease).values(name=name, owner=owner, acquired_at=now, expires_at=now + ttl)
            )
    except IntegrityError:  # another process inserted it first
        return False
    return True


def release(session: Session, name: str, owner: str) -> None:
    """Give the lease up (if we still hold it) so that a standby takes over at once."""
    session.execute(delete(Lease).where(Lease.name == name, Lease.owner == owner))


def holder(session: Session, name: str) -> Lease | None:
    """The lease row (owner, expiry), or None when nobody has ever held it or it was released."""
    return session.get(Lease, name)


def database_now(session: Session) -> datetime:
    """The database's current time, in UTC (SQLite's is its host's clock)."""
    if session.get_bind().dialect.name == "postgresql":
        value: datetime = session.execute(select(func.clock_timestamp())).scalar_one()
        return value.astimezone(UTC)
    text = session.scalar(select(func.strftime("%Y-%m-%d %H:%M:%f", "now")))
    return datetime.strptime(str(text), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
