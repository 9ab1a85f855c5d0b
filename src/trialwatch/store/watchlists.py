"""Watchlist rows: created, updated and disabled from their files, listed, looked up,
enabled and disabled by hand, synced."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialwatch.errors import NotFoundError
from trialwatch.store.models import Study, Watchlist, WatchlistStudy


@dataclass(frozen=True)
class WatchlistValues:
    """A watchlist row's values as its file gives them (plain values, no domain type)."""

    slug: str
    name: str
    criteria: dict[str, list[str]]
    description: str = ""
    schedule: str = "0 6 * * *"
    enabled: bool = True
    source: str = ""
    modified_at: datetime | None = field(default=None, compare=False)
    """When the file was last modified (UTC); None for values not read from a file."""


def upsert_watchlists(
    session: Session, specs: Sequence[WatchlistValues], now: datetime
) -> list[str]:
    """Create or update watchlists from their files; returns one report line per watchlist.

    Every key follows the file, except that ``enabled`` follows it only when the file
    was edited since the watchlist last changed (its modification time is later than
    ``updated_at``, or another key differs): a ``watchlist enable|disable`` lasts until
    the file is edited. A spec not read from a file (no time) always wins.
    """
    report = []
    existing = {w.slug: w for w in session.scalars(select(Watchlist))}
    for spec in specs:
        values: dict[str, Any] = {
            "name": spec.name,
            "description": spec.description,
            "criteria": spec.criteria,
            "schedule": spec.schedule,
            "source": spec.source,
        }
        row = existing.get(spec.slug)
        if row is None:
            session.add(
                Watchlist(
                    slug=spec.slug, created_at=now, updated_at=now, enabled=spec.enabled, **values
                )
            )
            report.append(f"{spec.slug}: created")
            continue
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        edited = bool(set(changed) - {"source"}) or _file_is_newer(spec, row)
        if edited and row.enabled != spec.enabled:
            changed["enabled"] = spec.enabled
        if changed:
            for key, value in changed.items():
                setattr(row, key, value)
            row.updated_at = now
            line = f"{spec.slug}: updated ({', '.join(sorted(changed))})"
            if "criteria" in changed:
                line += "; its next sync is full"
            report.append(line)
        else:
            report.append(f"{spec.slug}: unchanged")
    session.flush()
    return report


def _file_is_newer(spec: WatchlistValues, row: Watchlist) -> bool:
    return spec.modified_at is None or spec.modified_at > row.updated_at


def disable_missing(
    session: Session, slugs: Collection[str], now: datetime, folder: str
) -> list[str]:
    """Disable the enabled watchlists whose file is gone (slug not in ``slugs``).

    They keep their studies, versions and runs; one report line each.
    """
    report = []
    for row in session.scalars(select(Watchlist).order_by(Watchlist.slug)):
        if row.slug in slugs or not row.enabled:
            continue
        row.enabled = False
        row.updated_at = now
        report.append(f"{row.slug}: disabled (no file in {folder})")
    session.flush()
    return report


def set_enabled(session: Session, slug: str, enabled: bool, now: datetime) -> bool:
    """Enable or disable a watchlist; returns whether it changed."""
    row = get_watchlist(session, slug)
    if row.enabled == enabled:
        return False
    row.enabled = enabled
    row.updated_at = now
    return True


def list_watchlists(session: Session) -> list[Watchlist]:
    return list(session.scalars(select(Watchlist).order_by(Watchlist.slug)))


def get_watchlist(session: Session, slug: str) -> Watchlist:
    row = session.scalar(select(Watchlist).where(Watchlist.slug == slug))
    if row is None:
        slugs = [w.slug for w in list_watchlists(session)]
        close = difflib.get_close_matches(slug, slugs, n=3, cutoff=0.6)
        hint = f"closest: {', '.join(close)}; " if close else ""
        raise NotFoundError(
            f"unknown watchlist '{slug}' ({hint}known: {', '.join(slugs) or 'none'})"
        )
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


def set_synced(
    session: Session,
    watchlist_id: int,
    cursor: date | None,
    now: datetime,
    *,
    criteria_hash: str | None = None,
    data_timestamp: str | None = None,
) -> None:
    """After a successful sync: move the cursor; keep the criteria (hash) and the
    registry's ``dataTimestamp`` that sync used, so both read "as of the last
    successful sync"."""
    row = session.get_one(Watchlist, watchlist_id)
    row.sync_cursor = cursor
    row.last_synced_at = now
    if criteria_hash is not None:
        row.criteria_hash = criteria_hash
    if data_timestamp is not None:
        row.data_timestamp = data_timestamp


def matched_by_run(
    session: Session, watchlist_id: int, run_id: int, nct_ids: Sequence[str]
) -> set[str]:
    """Which of ``nct_ids`` run ``run_id`` has already matched for the watchlist."""
    if not nct_ids:
        return set()
    rows = session.execute(
        select(Study.registry_id)
        .join(WatchlistStudy, WatchlistStudy.study_id == Study.id)
        .where(
            WatchlistStudy.watchlist_id == watchlist_id,
            WatchlistStudy.last_run_id == run_id,
            Study.registry_id.in_(list(nct_ids)),
        )
    )
    return {nct for (nct,) in rows}


def newest_data_timestamp(session: Session) -> str | None:
    """The newest registry ``dataTimestamp`` any watchlist was synced against."""
    return session.scalar(
        select(Watchlist.data_timestamp)
        .where(Watchlist.data_timestamp.is_not(None))
        .order_by(Watchlist.data_timestamp.desc())
        .limit(1)
    )
