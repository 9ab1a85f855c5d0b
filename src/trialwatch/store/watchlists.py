"""Watchlist rows: created and updated from their files, listed, looked up, synced."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialwatch.errors import NotFoundError
from trialwatch.store.models import Watchlist, WatchlistStudy
from trialwatch.watchlists import WatchlistSpec


def upsert_watchlists(session: Session, specs: Sequence[WatchlistSpec], now: datetime) -> list[str]:
    """Create or update watchlists from their files; returns one report line per watchlist."""
    report = []
    existing = {w.slug: w for w in session.scalars(select(Watchlist))}
    for spec in specs:
        values = {
            "name": spec.name,
            "description": spec.description,
            "criteria": spec.criteria.to_dict(),
            "schedule": spec.schedule,
            "enabled": spec.enabled,
            "source": spec.source,
        }
        row = existing.get(spec.slug)
        if row is None:
            session.add(Watchlist(slug=spec.slug, created_at=now, updated_at=now, **values))
            report.append(f"{spec.slug}: created")
            continue
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changed:
            for key, value in changed.items():
                setattr(row, key, value)
            row.updated_at = now
            report.append(f"{spec.slug}: updated ({', '.join(sorted(changed))})")
        else:
            report.append(f"{spec.slug}: unchanged")
    session.flush()
    return report


def list_watchlists(session: Session) -> list[Watchlist]:
    return list(session.scalars(select(Watchlist).order_by(Watchlist.slug)))


def get_watchlist(session: Session, slug: str) -> Watchlist:
    row = session.scalar(select(Watchlist).where(Watchlist.slug == slug))
    if row is None:
        known = ", ".join(w.slug for w in list_watchlists(session)) or "none"
        raise NotFoundError(f"unknown watchlist '{slug}' (known: {known})")
    return row


def watchlist_counts(session: Session, watchlist_id: int) -> tuple[int, int]:
    """(current members, members that left)."""
    rows = session.execute(
        select(WatchlistStudy.left_at).where(WatchlistStudy.watchlist_id == watchlist_id)
    ).all()
    left = sum(1 for (left_at,) in rows if left_at is not None)
    return len(rows) - left, left


def watchlist_name(session: Session, watchlist_id: int) -> str:
    return session.get_one(Watchlist, watchlist_id).name


def set_synced(session: Session, watchlist_id: int, cursor: date | None, now: datetime) -> None:
    """Move the watchlist's cursor after a successful sync."""
    row = session.get_one(Watchlist, watchlist_id)
    row.sync_cursor = cursor
    row.last_synced_at = now


def newest_data_timestamp(session: Session) -> str | None:
    """The newest registry ``dataTimestamp`` any watchlist was synced against."""
    return session.scalar(
        select(Watchlist.data_timestamp)
        .where(Watchlist.data_timestamp.is_not(None))
        .order_by(Watchlist.data_timestamp.desc())
        .limit(1)
    )
