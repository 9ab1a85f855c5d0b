"""Change rows: written in the transaction of the version they describe, read for listings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from trialwatch.diff import Change as DiffChange
from trialwatch.diff import diff_records
from trialwatch.store.locks import join_change_writers
from trialwatch.store.models import Change, Study, StudyVersion, Watchlist, WatchlistStudy
from trialwatch.store.repo import PageResult, record_by_version

SIGNIFICANCE_LEVELS = {"major": ("major",), "minor": ("major", "minor")}


def change_rows(
    changes: Iterable[DiffChange],
    *,
    study_id: int,
    version_id: int | None,
    watchlist_id: int | None,
    run_id: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    return [
        {
            "study_id": study_id,
            "version_id": version_id,
            "watchlist_id": watchlist_id,
            "sync_run_id": run_id,
            "kind": c.kind,
            "field": c.field,
            "old": c.old,
            "new": c.new,
            "summary": c.summary,
            "significance": c.significance,
            "countries": list(c.countries),
            "detected_at": now,
        }
        for c in changes
    ]


def record_page_changes(
    session: Session, page: PageResult, *, watchlist_id: int, run_id: int, now: datetime
) -> int:
    """Write the changes of every version a page stored, and of studies that joined.

    A new study's ``new_study`` change belongs to the watchlist that found it; an
    existing study joining another watchlist gets a ``new_study`` change for that
    watchlist only. Everything else is study-level (``watchlist_id`` NULL).
    """
    rows: list[dict[str, Any]] = []
    for stored in page.stored:
        rows.extend(
            change_rows(
                diff_records(stored.old_record, stored.new_record),
                study_id=stored.study_id,
                version_id=stored.version_id,
                watchlist_id=None,
                run_id=run_id,
                now=now,
            )
        )
    for row in rows:
        if row["kind"] == "new_study":
            row["watchlist_id"] = watchlist_id
    brand_new = {s.study_id for s in page.stored if s.old_record is None}
    joined = [sid for sid in page.joined if sid not in brand_new]
    if joined:
        current: dict[int, int] = dict(
            iter(
                session.execute(
                    select(Study.id, StudyVersion.id)
                    .join(StudyVersion, StudyVersion.study_id == Study.id)
                    .where(Study.id.in_(joined), StudyVersion.version == Study.current_version)
                ).tuples()
            )
        )
        for sid in joined:
            rows.extend(
                change_rows(
                    diff_records(None, page.records[sid]),
                    study_id=sid,
                    version_id=current.get(sid),
                    watchlist_id=watchlist_id,
                    run_id=run_id,
                    now=now,
                )
            )
    insert_changes(session, rows)
    return len(rows)


@dataclass(frozen=True)
class ChangeView:
    id: int
    nct_id: str
    acronym: str | None
    title: str
    version: int | None
    kind: str
    field: str
    old: Any
    new: Any
    summary: str
    significance: str
    countries: list[str]
    detected_at: datetime
    watchlist: str | None

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["detected_at"] = self.detected_at.isoformat()
        return data


def list_changes(
    session: Session,
    *,
    watchlist_id: int | None = None,
    since: datetime | None = None,
    significance: str = "minor",
    study_id: int | None = None,
    limit: int | None = 200,
) -> list[ChangeView]:
    """Changes newest first; ``significance`` 'major', 'minor' (major+minor) or 'all'."""
    query = (
        select(
            Change,
            Study.nct_id,
            Study.acronym,
            Study.brief_title,
            StudyVersion.version,
            Watchlist.slug,
        )
        .join(Study, Study.id == Change.study_id)
        .outerjoin(StudyVersion, StudyVersion.id == Change.version_id)
        .outerjoin(Watchlist, Watchlist.id == Change.watchlist_id)
        .order_by(Change.detected_at.desc(), Change.id.desc())
    )
    if significance != "all":
        query = query.where(Change.significance.in_(SIGNIFICANCE_LEVELS[significance]))
    if since is not None:
        query = query.where(Change.detected_at >= since)
    if study_id is not None:
        query = query.where(Change.study_id == study_id)
    if watchlist_id is not None:
        members = select(WatchlistStudy.study_id).where(WatchlistStudy.watchlist_id == watchlist_id)
        query = query.where(
            or_(
                Change.watchlist_id == watchlist_id,
                (Change.watchlist_id.is_(None)) & Change.study_id.in_(members),
            )
        )
    if limit is not None:
        query = query.limit(limit)
    return [
        ChangeView(
            id=c.id,
            nct_id=nct,
            acronym=acronym,
            title=title,
            version=version,
            kind=c.kind,
            field=c.field,
            old=c.old,
            new=c.new,
            summary=c.summary,
            significance=c.significance,
            countries=list(c.countries or []),
            detected_at=c.detected_at,
            watchlist=slug,
        )
        for c, nct, acronym, title, version, slug in session.execute(query)
    ]


def backfill_changes(session: Session, now: datetime, *, batch: int = 200) -> tuple[int, int]:
    """Compute changes for stored versions that have none; returns (versions, changes)."""
    with_changes = select(Change.version_id).where(Change.version_id.is_not(None))
    todo = list(
        session.execute(
            select(StudyVersion.id, StudyVersion.study_id, StudyVersion.version)
            .where(StudyVersion.id.not_in(with_changes))
            .order_by(StudyVersion.study_id, StudyVersion.version)
        ).tuples()
    )
    total = 0
    for start in range(0, len(todo), batch):
        rows: list[dict[str, Any]] = []
        for version_id, study_id, number in todo[start : start + batch]:
            new = record_by_version(session, study_id, number) or {}
            old = record_by_version(session, study_id, number - 1) if number > 1 else None
            rows.extend(
                change_rows(
                    diff_records(old, new),
                    study_id=study_id,
                    version_id=version_id,
                    watchlist_id=None,
                    run_id=None,
                    now=now,
                )
            )
        insert_changes(session, rows)
        total += len(rows)
    return len(todo), total


def insert_changes(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        join_change_writers(session)
        session.execute(insert(Change), list(rows))
