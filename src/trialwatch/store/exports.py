"""What the exports read: studies' current versions with their provenance, and changes.

Both are streamed (``yield_per``; a server-side cursor on PostgreSQL), so an export
of every study holds a batch of records at a time, not all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from trialwatch.store.changes import change_filters
from trialwatch.store.models import Change, Study, StudyVersion, SyncRun, Watchlist, WatchlistStudy

BATCH = 200
"""Rows fetched from the database at a time."""

_SLUG_SEPARATOR = " "  # slugs are [a-z0-9-]: never a space


@dataclass(frozen=True, slots=True)
class StoredStudy:
    """A study's current version as stored, and where it came from."""

    record: dict[str, Any]
    version: int
    content_hash: str
    fetched_at: datetime
    data_timestamp: str | None
    """``dataTimestamp`` of the sync run that stored the version (None if unknown)."""
    watchlists: tuple[str, ...]
    """Slugs of the watchlists the study is a member of now, sorted."""


def iter_studies(
    session: Session, watchlist_id: int | None = None, *, include_left: bool = False
) -> Iterator[StoredStudy]:
    """Every study (of one watchlist) by NCT ID: current record, version and provenance."""
    slugs = (
        select(func.aggregate_strings(Watchlist.slug, _SLUG_SEPARATOR))
        .join(WatchlistStudy, WatchlistStudy.watchlist_id == Watchlist.id)
        .where(WatchlistStudy.study_id == Study.id, WatchlistStudy.left_at.is_(None))
        .correlate(Study)
        .scalar_subquery()
    )
    query = (
        select(
            StudyVersion.record,
            StudyVersion.version,
            StudyVersion.content_hash,
            StudyVersion.fetched_at,
            SyncRun.data_timestamp,
            slugs,
        )
        .select_from(Study)
        .join(
            StudyVersion,
            and_(StudyVersion.study_id == Study.id, StudyVersion.version == Study.current_version),
        )
        .outerjoin(SyncRun, SyncRun.id == StudyVersion.sync_run_id)
    )
    if watchlist_id is not None:
        # (watchlist, study) is the key of a membership: the join adds no rows.
        query = query.join(
            WatchlistStudy,
            and_(WatchlistStudy.study_id == Study.id, WatchlistStudy.watchlist_id == watchlist_id),
        )
        if not include_left:
            query = query.where(WatchlistStudy.left_at.is_(None))
    query = query.order_by(Study.registry_id).execution_options(yield_per=BATCH)
    for text, version, content_hash, fetched_at, data_timestamp, members in session.execute(query):
        yield StoredStudy(
            record=orjson.loads(text),
            version=version,
            content_hash=content_hash,
            fetched_at=fetched_at,
            data_timestamp=data_timestamp,
            watchlists=tuple(sorted((members or "").split())),
        )


@dataclass(frozen=True, slots=True)
class StoredChange:
    """A change with its study, version, the version's posted date and its watchlist."""

    detected_at: datetime
    nct_id: str
    acronym: str | None
    title: str
    watchlist: str | None
    """Slug of the watchlist a membership change is about (None for a study change)."""
    version: int | None
    posted: str | None
    """``lastUpdatePostDate`` of the version that made the change."""
    kind: str
    significance: str
    field: str
    summary: str
    old: Any
    new: Any
    countries: list[str]


def iter_changes(
    session: Session,
    *,
    watchlist_id: int | None = None,
    since: datetime | None = None,
    significance: str = "minor",
    limit: int | None = None,
) -> Iterator[StoredChange]:
    """Changes newest first, as ``changes.list_changes`` selects them (the same
    :func:`~trialwatch.store.changes.change_filters`), streamed."""
    query = (
        select(
            Change.detected_at,
            Study.registry_id.label("nct_id"),
            Study.acronym,
            Study.brief_title.label("title"),
            Watchlist.slug.label("watchlist"),
            StudyVersion.version,
            StudyVersion.last_update_posted.label("posted"),
            Change.kind,
            Change.significance,
            Change.field,
            Change.summary,
            Change.old,
            Change.new,
            Change.countries,
        )
        .join(Study, Study.id == Change.study_id)
        .outerjoin(StudyVersion, StudyVersion.id == Change.version_id)
        .outerjoin(Watchlist, Watchlist.id == Change.watchlist_id)
    )
    query = query.where(
        *change_filters(watchlist_id=watchlist_id, since=since, significance=significance)
    )
    query = query.order_by(Change.detected_at.desc(), Change.id.desc())
    if limit is not None:
        query = query.limit(limit)
    for row in session.execute(query.execution_options(yield_per=BATCH)):
        values = row._asdict()
        values["countries"] = list(values["countries"] or [])
        yield StoredChange(**values)
