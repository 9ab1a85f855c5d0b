"""Read queries of the web pages, feeds and API: bounded lists, rows out.

Every list here is limited and ordered on an indexed key (keyset paging), so a page
costs the same however many studies and changes are stored. Lists read the study's
listing columns (sponsor, conditions, countries), never its record; only a single
study's page gets its record text, as stored (canonical JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Text, and_, cast, exists, false, func, or_, select
from sqlalchemy.orm import Session

from trialwatch.store.changes import ChangeView, of_watchlist
from trialwatch.store.models import (
    Change,
    Study,
    StudyVersion,
    SyncRun,
    Watchlist,
    WatchlistStudy,
)


def data_version(session: Session) -> str:
    """A value that changes whenever anything the public pages show may have changed.

    Syncs add changes (joining and leaving a watchlist are changes too), versions
    and runs, whose ids only grow, and a finished sync moves the watchlist's
    ``last_synced_at``; watchlist edits move its ``updated_at``. Each part is a
    primary-key read or a read of the (small) watchlist table.
    """
    parts = session.execute(
        select(
            select(func.max(Change.id)).scalar_subquery(),
            select(func.max(StudyVersion.id)).scalar_subquery(),
            select(func.max(SyncRun.id)).scalar_subquery(),
            select(func.max(Watchlist.updated_at)).scalar_subquery(),
            select(func.max(Watchlist.last_synced_at)).scalar_subquery(),
        )
    ).one()
    return "|".join(str(part) for part in parts)


@dataclass(frozen=True)
class WatchlistRow:
    id: int
    slug: str
    name: str
    description: str
    enabled: bool
    study_count: int
    last_synced_at: datetime | None


def watchlist_rows(
    session: Session,
    *,
    after: str | None = None,
    limit: int | None = None,
    slug: str | None = None,
    counted: bool = True,
) -> list[WatchlistRow]:
    """Watchlists by slug (after ``after``), with their current member counts
    (``study_count`` is 0 when not ``counted``)."""
    members = select(WatchlistStudy.watchlist_id, func.count().label("n")).where(
        WatchlistStudy.left_at.is_(None)
    )
    if slug is not None:  # count one watchlist's members, not every watchlist's
        members = members.where(
            WatchlistStudy.watchlist_id.in_(select(Watchlist.id).where(Watchlist.slug == slug))
        )
    if not counted:
        members = members.where(false())
    counts = members.group_by(WatchlistStudy.watchlist_id).subquery()
    query = (
        select(Watchlist, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.watchlist_id == Watchlist.id)
        .order_by(Watchlist.slug)
    )
    if after is not None:
        query = query.where(Watchlist.slug > after)
    if slug is not None:
        query = query.where(Watchlist.slug == slug)
    if limit is not None:
        query = query.limit(limit)
    return [
        WatchlistRow(
            id=w.id,
            slug=w.slug,
            name=w.name,
            description=w.description,
            enabled=w.enabled,
            study_count=int(n),
            last_synced_at=w.last_synced_at,
        )
        for w, n in session.execute(query).tuples()
    ]


def find_watchlist(session: Session, slug: str, *, counted: bool = True) -> WatchlistRow | None:
    """One watchlist by slug, or None."""
    found = watchlist_rows(session, slug=slug, counted=counted)
    return found[0] if found else None


@dataclass(frozen=True)
class StudyListRow:
    id: int
    nct_id: str
    brief_title: str
    acronym: str | None
    overall_status: str | None
    phases: str
    last_update_posted: str | None
    lead_sponsor: str | None
    conditions: list[str]
    countries: list[str]
    last_change_at: datetime | None


def _country_match(country: str) -> ColumnElement[bool]:
    """Whether a study's site countries (a JSON list) include ``country``, any case."""
    needle = orjson.dumps(country.strip()).decode()
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(Study.countries, Text).ilike(f"%{escaped}%", escape="\\")


def _member_query(watchlist_id: int, status: str | None, country: str | None) -> Any:
    # EXISTS, not a join: the planner then walks the study's nct_id index in order
    # and stops at the page's limit, instead of sorting every member (3 ms at 10,000).
    member = exists().where(
        WatchlistStudy.watchlist_id == watchlist_id,
        WatchlistStudy.study_id == Study.id,
        WatchlistStudy.left_at.is_(None),
    )
    query = select(Study.id).where(member)
    if status:
        query = query.where(Study.overall_status == status)
    if country and country.strip():
        query = query.where(_country_match(country))
    return query


def watchlist_studies(
    session: Session,
    watchlist_id: int,
    *,
    status: str | None = None,
    country: str | None = None,
    after: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> list[StudyListRow]:
    """Current members by NCT ID (after ``after``, skipping ``offset``), at most ``limit``,
    each with when its newest change was detected."""
    query = _member_query(watchlist_id, status, country).add_columns(Study)
    if after is not None:
        query = query.where(Study.registry_id > after)
    query = query.order_by(Study.registry_id).offset(offset).limit(limit)
    rows = [study for _, study in session.execute(query).tuples()]
    if not rows:
        return []
    ids = [s.id for s in rows]
    last_change = dict(
        iter(
            session.execute(
                select(Change.study_id, func.max(Change.detected_at))
                .where(Change.study_id.in_(ids))
                .group_by(Change.study_id)
            ).tuples()
        )
    )
    return [
        StudyListRow(
            id=s.id,
            nct_id=s.nct_id,
            brief_title=s.brief_title,
            acronym=s.acronym,
            overall_status=s.overall_status,
            phases=s.phases,
            last_update_posted=s.last_update_posted,
            lead_sponsor=s.lead_sponsor,
            conditions=list(s.conditions or []),
            countries=list(s.countries or []),
            last_change_at=last_change.get(s.id),
        )
        for s in rows
    ]


def watchlist_status_counts(session: Session, watchlist_id: int) -> dict[str, int]:
    """How many current members have each overall status (one grouped query; a
    study without a status counts under ``""``)."""
    query = (
        select(Study.overall_status, func.count())
        .join(WatchlistStudy, WatchlistStudy.study_id == Study.id)
        .where(WatchlistStudy.watchlist_id == watchlist_id, WatchlistStudy.left_at.is_(None))
        .group_by(Study.overall_status)
    )
    return {status or "": int(n) for status, n in session.execute(query).tuples()}


def count_watchlist_studies(
    session: Session, watchlist_id: int, *, status: str | None = None, country: str | None = None
) -> int:
    inner = _member_query(watchlist_id, status, country).subquery()
    return int(session.scalar(select(func.count()).select_from(inner)) or 0)


@dataclass(frozen=True)
class StudyRowView:
    id: int
    nct_id: str
    brief_title: str
    acronym: str | None
    overall_status: str | None
    phases: str
    last_update_posted: str | None
    current_version: int
    first_seen_at: datetime
    record: str


def find_study(session: Session, nct_id: str) -> StudyRowView | None:
    """A stored study with its current record text, or None."""
    row = session.execute(
        select(Study, StudyVersion.record)
        .join(
            StudyVersion,
            and_(
                StudyVersion.study_id == Study.id,
                StudyVersion.version == Study.current_version,
            ),
        )
        .where(Study.registry_id == nct_id.upper())
    ).first()
    if row is None:
        return None
    s, record = row
    return StudyRowView(
        id=s.id,
        nct_id=s.nct_id,
        brief_title=s.brief_title,
        acronym=s.acronym,
        overall_status=s.overall_status,
        phases=s.phases,
        last_update_posted=s.last_update_posted,
        current_version=s.current_version,
        first_seen_at=s.first_seen_at,
        record=record,
    )


@dataclass(frozen=True)
class VersionRow:
    version: int
    content_hash: str
    last_update_posted: str | None
    fetched_at: datetime
    sync_run_id: int | None


def version_rows(session: Session, study_id: int, limit: int = 500) -> list[VersionRow]:
    """A study's versions, newest first, without their records."""
    return [
        VersionRow(*row)
        for row in session.execute(
            select(
                StudyVersion.version,
                StudyVersion.content_hash,
                StudyVersion.last_update_posted,
                StudyVersion.fetched_at,
                StudyVersion.sync_run_id,
            )
            .where(StudyVersion.study_id == study_id)
            .order_by(StudyVersion.version.desc())
            .limit(limit)
        ).tuples()
    ]


@dataclass(frozen=True)
class FeedGroup:
    """The changes of one study in one sync run (one feed entry)."""

    run_id: int | None
    study_id: int
    nct_id: str
    title: str
    acronym: str | None
    updated: datetime
    first_change_id: int
    changes: list[ChangeView]


def feed_groups(session: Session, watchlist_id: int, limit: int = 100) -> list[FeedGroup]:
    """The newest ``limit`` (sync run, study) groups of a watchlist's changes, noise
    excluded, each with all its changes (in detection order)."""
    where = [Change.significance != "noise", of_watchlist(watchlist_id)]
    keys: dict[tuple[int | None, int], None] = {}  # in order of first sight
    recent = session.execute(
        select(Change.sync_run_id, Change.study_id)
        .where(*where)
        .order_by(Change.detected_at.desc(), Change.id.desc())
        .limit(limit * 20)
    ).tuples()
    for run_id, study_id in recent:
        keys.setdefault((run_id, study_id))
        if len(keys) == limit:
            break
    if not keys:
        return []
    wanted = set(keys)
    run_ids = sorted({rid for rid, _ in keys if rid is not None})
    run_match: ColumnElement[bool] = Change.sync_run_id.in_(run_ids)
    if None in {rid for rid, _ in keys}:
        run_match = or_(run_match, Change.sync_run_id.is_(None))
    query = (
        select(Change, Study.registry_id, Study.acronym, Study.brief_title, StudyVersion.version)
        .join(Study, Study.id == Change.study_id)
        .outerjoin(StudyVersion, StudyVersion.id == Change.version_id)
        .where(*where, Change.study_id.in_(sorted({sid for _, sid in keys})), run_match)
        .order_by(Change.id)
    )
    grouped: dict[tuple[int | None, int], list[ChangeView]] = {}
    for c, nct, acronym, title, version in session.execute(query).tuples():
        key = (c.sync_run_id, c.study_id)
        if key not in wanted:
            continue
        grouped.setdefault(key, []).append(ChangeView.of(c, nct, acronym, title, version, None))
    groups = []
    for key in keys:
        changes = grouped.get(key)
        if not changes:
            continue
        groups.append(
            FeedGroup(
                run_id=key[0],
                study_id=key[1],
                nct_id=changes[0].nct_id,
                title=changes[0].title,
                acronym=changes[0].acronym,
                updated=max(c.detected_at for c in changes),
                first_change_id=changes[0].id,
                changes=changes,
            )
        )
    return groups
