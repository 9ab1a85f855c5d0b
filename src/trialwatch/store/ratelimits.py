"""Fixed-window rate limits kept in the database, so every web process shares them.

``hit`` counts one event of a key in the current window and returns the window's
count, in one atomic ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` on both
databases: two processes never both see the last free place. ``count`` reads
without counting. Old windows are deleted by ``prune``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from trialwatch.store.models import RateLimit

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window of length ``window`` that holds ``now``."""
    seconds = window.total_seconds()
    elapsed = (now - _EPOCH).total_seconds()
    return _EPOCH + timedelta(seconds=elapsed - elapsed % seconds)


def hit(session: Session, key: str, now: datetime, window: timedelta, amount: int = 1) -> int:
    """Count ``amount`` events of ``key`` now; the window's count including them."""
    start = window_start(now, window)
    build = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = build(RateLimit).values(key=key[:200], window_start=start, hits=amount)
    upsert = statement.on_conflict_do_update(
        index_elements=["key", "window_start"],
        set_={"hits": RateLimit.hits + amount},
    )
    return int(session.execute(upsert.returning(RateLimit.hits)).scalar_one())


def count(session: Session, key: str, now: datetime, window: timedelta) -> int:
    """Events of ``key`` in the window that holds ``now``, without counting one."""
    found = session.scalar(
        select(func.coalesce(func.sum(RateLimit.hits), 0)).where(
            RateLimit.key == key[:200], RateLimit.window_start == window_start(now, window)
        )
    )
    return int(found or 0)


def clear(session: Session, key: str) -> None:
    """Forget every window of ``key`` (a correct password clears its client's failures)."""
    session.execute(delete(RateLimit).where(RateLimit.key == key[:200]))


def prune(session: Session, before: datetime, prefix: str = "") -> int:
    """Delete windows (of keys starting with ``prefix``) that started before ``before``."""
    query = delete(RateLimit).where(RateLimit.window_start < before)
    if prefix:
        query = query.where(RateLimit.key.startswith(prefix, autoescape=True))
    result = session.execute(query)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
