"""Health alert rows, and the rows the health check reads. Rows in, rows out.

An alert row (one per condition key, such as ``"stale:mmn"``) changes state by
compare and set: :func:`open_alert` and :func:`clear_alert` return True only for
the caller whose statement changed it, so however many checkers run at once, one
of them queues the mail of a start or a clear, in the transaction of the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from trialwatch.store.models import Digest, HealthAlert, SyncRun, Watchlist


def alerts(session: Session) -> dict[str, HealthAlert]:
    """Every alert row by key, active or cleared."""
    return {row.key: row for row in session.scalars(select(HealthAlert))}


def open_alert(
    session: Session,
    key: str,
    *,
    kind: str,
    watchlist_id: int | None,
    detail: str,
    now: datetime,
) -> bool:
    """Mark the condition ``key`` started at ``now``; True if this call started it."""
    build = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    inserted = session.execute(
        build(HealthAlert)
        .values(
            key=key,
            kind=kind,
            watchlist_id=watchlist_id,
            active=True,
            detail=detail,
            started_at=now,
            cleared_at=None,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(HealthAlert.key)
    ).first()
    if inserted is not None:
        return True
    return _changed(
        session,
        key,
        active=False,
        values={
            "kind": kind,
            "watchlist_id": watchlist_id,
            "active": True,
            "detail": detail,
            "started_at": now,
            "cleared_at": None,
        },
    )


def clear_alert(session: Session, key: str, *, detail: str, now: datetime) -> bool:
    """Mark the active condition ``key`` cleared at ``now``; True if this call cleared it."""
    return _changed(
        session, key, active=True, values={"active": False, "detail": detail, "cleared_at": now}
    )


def set_detail(session: Session, key: str, detail: str) -> None:
    """Update what an active alert says (no new start: nothing is mailed)."""
    session.execute(
        update(HealthAlert)
        .where(HealthAlert.key == key, HealthAlert.active.is_(True))
        .values(detail=detail)
    )


def _changed(session: Session, key: str, *, active: bool, values: dict[str, Any]) -> bool:
    result = session.execute(
        update(HealthAlert)
        .where(HealthAlert.key == key, HealthAlert.active.is_(active))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


# --- what the check reads -------------------------------------------------------------------


def enabled_watchlists(session: Session) -> list[Watchlist]:
    return list(
        session.scalars(
            select(Watchlist).where(Watchlist.enabled.is_(True)).order_by(Watchlist.slug)
        )
    )


def succeeded_runs(
    session: Session,
    watchlist_id: int,
    *,
    mode: str | None = None,
    finished_by: datetime | None = None,
    started_since: datetime | None = None,
    limit: int | None = None,
    listing: bool = False,
) -> list[SyncRun]:
    """The watchlist's succeeded runs, newest first, optionally of one mode and in a span.

    ``listing``: only the runs that listed the whole membership (full runs, and those
    with ``listed`` set).
    """
    query = select(SyncRun).where(
        SyncRun.watchlist_id == watchlist_id, SyncRun.status == "succeeded"
    )
    if mode is not None:
        query = query.where(SyncRun.mode == mode)
    if listing:
        query = query.where(or_(SyncRun.mode == "full", SyncRun.listed.is_not(None)))
    if finished_by is not None:
        query = query.where(SyncRun.finished_at <= finished_by)
    if started_since is not None:
        query = query.where(SyncRun.started_at >= started_since)
    query = query.order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def failed_messages_since(
    session: Session, since: datetime, *, kinds: Sequence[str] = ("digest", "confirm")
) -> int:
    """Outbox rows of ``kinds`` marked failed whose last attempt was due at or after ``since``.

    A row is claimed when its ``next_attempt_at`` has come, so that time is when it
    was last tried, give or take a delivery cycle.
    """
    return int(
        session.scalar(
            select(func.count())
            .select_from(Digest)
            .where(
                Digest.status == "failed",
                Digest.kind.in_(list(kinds)),
                Digest.next_attempt_at >= since,
            )
        )
        or 0
    )
