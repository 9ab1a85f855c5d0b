"""Studies, their versions and watchlist membership: prepared rows in, rows out.

The sync job parses and hashes records (``ctgov.parse``) and hands this module
:class:`StudyRow` values; nothing here reads a record's content.

Writers of studies may run at the same time (two watchlists that share studies are
synced by two processes): rows with a unique key are written insert-or-get
(``INSERT … ON CONFLICT DO NOTHING … RETURNING``, then read back what another
writer stored first), in key order so that two writers wait for each other in one
order and never deadlock.

Size: over the ~400-line aim because insert-or-get of studies, versions and
membership is one concurrency argument, best read in one place.

Over 400 lines because storing a batch of versions is one transaction whose steps
(insert-or-get studies, versions, listing columns, membership) must read together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, and_, select, update
from sqlalchemy.orm import Session

from trialwatch.errors import NotFoundError
from trialwatch.store.db import insert_or_skip
from trialwatch.store.models import Study, StudyVersion, WatchlistStudy


@dataclass(frozen=True, slots=True)
class StudyRow:
    """One record as the store writes it: canonical text, its hash, the listing columns."""

    nct_id: str
    canonical: bytes
    """The record as canonical JSON (sorted keys, no whitespace), UTF-8."""
    content_hash: str
    """SHA-256 of ``canonical``."""
    brief_title: str
    acronym: str | None
    overall_status: str | None
    phases: str
    last_update_posted: str | None
    has_results: bool
    lead_sponsor: str | None = None
    conditions: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    """The registrations the record names for itself: (registry, registry ID)."""


@dataclass
class StoredVersion:
    """A version written by :func:`store_versions`, with the record it replaced (None if new)."""

    study_id: int
    version_id: int
    version: int
    nct_id: str
    old_record: dict[str, Any] | None


@dataclass
class StoreResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    stored: list[StoredVersion] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)
    """The study id of every row given, by NCT ID."""


def store_versions(
    session: Session,
    rows: Sequence[StudyRow],
    *,
    run_id: int,
    now: datetime,
    load_old_records: bool = True,
) -> StoreResult:
    """Store a page of rows: a new version only where the content hash changed.

    Runs inside the caller's transaction; nothing is committed here. Safe against a
    concurrent writer of the same studies: a study it inserted first is read back
    and compared like any stored study, and a version number it took first is left
    to it (its transaction stored that version and its changes); the next sync
    stores ours if the content still differs.
    """
    result = StoreResult()
    prepared = {row.nct_id: row for row in rows}
    if not prepared:
        return result
    existing = _current_rows(session, list(prepared))
    ids = {nct: row.id for nct, row in existing.items()}
    fresh, existing = _insert_new_studies(session, prepared, existing, ids, now)
    changed = sorted(
        (
            p
            for p in prepared.values()
            if p.nct_id in existing and existing[p.nct_id].current_hash != p.content_hash
        ),
        key=lambda p: ids[p.nct_id],
    )
    old_records = (
        _old_records(session, [ids[p.nct_id] for p in changed])
        if (changed and load_old_records)
        else {}
    )
    versions = [(p, 1) for p in fresh] + [
        (p, existing[p.nct_id].current_version + 1) for p in changed
    ]
    version_ids = _insert_versions(session, versions, ids, run_id, now)
    # A version number another writer took first is theirs: leave that study to them.
    won = [(p, n) for p, n in versions if (ids[p.nct_id], n) in version_ids]
    updates = [(p, n) for p, n in won if p.nct_id in existing]
    if updates:
        session.execute(
            update(Study),
            [
                {
                    "id": ids[p.nct_id],
                    **_study_columns(p),
                    "current_version": number,
                    "updated_at": now,
                }
                for p, number in updates
            ],
        )
    for p, number in won:
        sid = ids[p.nct_id]
        result.stored.append(
            StoredVersion(
                study_id=sid,
                version_id=version_ids[(sid, number)],
                version=number,
                nct_id=p.nct_id,
                old_record=old_records.get(sid),
            )
        )
    result.new, result.updated = len(fresh), len(updates)
    result.unchanged = len(prepared) - result.new - result.updated
    result.ids = ids
    return result


def _insert_new_studies(
    session: Session,
    prepared: dict[str, StudyRow],
    existing: dict[str, _Current],
    ids: dict[str, int],
    now: datetime,
) -> tuple[list[StudyRow], dict[str, _Current]]:
    """Insert-or-get the studies not stored yet; return those this writer inserted.

    Studies a concurrent writer stored since we looked join ``existing`` (and ``ids``).
    """
    fresh = sorted((p for p in prepared.values() if p.nct_id not in existing), key=_nct)
    if not fresh:
        return [], existing
    study = Study.__table__
    inserted = dict(
        iter(
            session.execute(
                insert_or_skip(session, Study, "registry", "registry_id").returning(
                    study.c.registry_id, study.c.id
                ),
                [
                    {
                        **_study_columns(p),
                        "current_version": 1,
                        "first_seen_at": now,
                        "updated_at": now,
                    }
                    for p in fresh
                ],
            ).tuples()
        )
    )
    ids.update(inserted)
    taken = [p.nct_id for p in fresh if p.nct_id not in inserted]
    if taken:  # stored by a concurrent writer since we looked: compare with theirs
        existing = {**existing, **_current_rows(session, taken)}
        ids.update({nct: existing[nct].id for nct in taken})
    return [p for p in fresh if p.nct_id in inserted], existing


def _nct(row: StudyRow) -> str:
    return row.nct_id


def _old_records(session: Session, study_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The current record of each study, before this page's versions replace it."""
    return {
        sid: orjson.loads(text)
        for sid, text in session.execute(
            select(StudyVersion.study_id, StudyVersion.record)
            .join(Study, Study.id == StudyVersion.study_id)
            .where(
                StudyVersion.study_id.in_(study_ids),
                StudyVersion.version == Study.current_version,
            )
        )
    }


def _insert_versions(
    session: Session,
    versions: list[tuple[StudyRow, int]],
    ids: dict[str, int],
    run_id: int,
    now: datetime,
) -> dict[tuple[int, int], int]:
    """Insert-or-skip the version rows; return the ids of those inserted by (study, number)."""
    if not versions:
        return {}
    rows = [
        {
            "study_id": ids[p.nct_id],
            "version": number,
            "content_hash": p.content_hash,
            "record": p.canonical.decode(),  # decoded only for the rows written
            "last_update_posted": p.last_update_posted,
            "fetched_at": now,
            "sync_run_id": run_id,
        }
        for p, number in versions
    ]
    rows.sort(key=lambda r: (r["study_id"], r["version"]))
    table = StudyVersion.__table__
    return {
        (sid, number): vid
        for vid, sid, number in session.execute(
            insert_or_skip(session, StudyVersion, "study_id", "version").returning(
                table.c.id, table.c.study_id, table.c.version
            ),
            rows,
        ).tuples()
    }


@dataclass(frozen=True)
class _Current:
    id: int
    current_hash: str
    current_version: int


def _current_rows(session: Session, nct_ids: list[str]) -> dict[str, _Current]:
    return {
        nct: _Current(sid, digest, version)
        for sid, nct, digest, version in session.execute(
            select(Study.id, Study.registry_id, Study.current_hash, Study.current_version).where(
                Study.registry_id.in_(nct_ids)
            )
        ).tuples()
    }


def _study_columns(p: StudyRow) -> dict[str, Any]:
    return {
        "registry": "ctgov",
        "registry_id": p.nct_id,
        "nct_id": p.nct_id,
        "current_hash": p.content_hash,
        "brief_title": p.brief_title,
        "acronym": p.acronym,
        "overall_status": p.overall_status,
        "phases": p.phases,
        "last_update_posted": p.last_update_posted,
        "has_results": p.has_results,
        "lead_sponsor": p.lead_sponsor,
        "conditions": list(p.conditions),
        "countries": list(p.countries),
    }


def touch_membership(
    session: Session, watchlist_id: int, study_ids: list[int], run_id: int, now: datetime
) -> list[int]:
    """Record that the studies match the watchlist now; return those that (re)joined it."""
    left_at: dict[int, datetime | None] = dict(
        iter(
            session.execute(
                select(WatchlistStudy.study_id, WatchlistStudy.left_at).where(
                    WatchlistStudy.watchlist_id == watchlist_id,
                    WatchlistStudy.study_id.in_(study_ids),
                )
            ).tuples()
        )
    )
    members = set(left_at)
    missing = sorted(sid for sid in study_ids if sid not in members)
    if missing:
        table = WatchlistStudy.__table__
        missing = list(
            session.scalars(
                insert_or_skip(session, WatchlistStudy, "watchlist_id", "study_id").returning(
                    table.c.study_id
                ),
                [
                    {
                        "watchlist_id": watchlist_id,
                        "study_id": sid,
                        "first_matched_at": now,
                        "last_matched_at": now,
                        "last_run_id": run_id,
                    }
                    for sid in missing
                ],
            )
        )
    if members:
        session.execute(
            update(WatchlistStudy)
            .where(
                WatchlistStudy.watchlist_id == watchlist_id,
                WatchlistStudy.study_id.in_(list(members)),
            )
            .values(last_matched_at=now, last_run_id=run_id, left_at=None)
            .execution_options(synchronize_session=False)
        )
    return missing + [sid for sid, left in left_at.items() if left is not None]


def members_not_seen(session: Session, watchlist_id: int, run_id: int) -> list[tuple[int, str]]:
    """Current members not matched by run ``run_id``: (study id, NCT ID)."""
    rows = session.execute(
        select(Study.id, Study.registry_id)
        .join(WatchlistStudy, WatchlistStudy.study_id == Study.id)
        .where(
            WatchlistStudy.watchlist_id == watchlist_id,
            WatchlistStudy.left_at.is_(None),
            (WatchlistStudy.last_run_id != run_id) | WatchlistStudy.last_run_id.is_(None),
        )
        .order_by(Study.registry_id)
    )
    return [(sid, nct) for sid, nct in rows]


def mark_left(session: Session, watchlist_id: int, study_ids: Sequence[int], now: datetime) -> None:
    if study_ids:
        session.execute(
            update(WatchlistStudy)
            .where(
                WatchlistStudy.watchlist_id == watchlist_id,
                WatchlistStudy.study_id.in_(list(study_ids)),
            )
            .values(left_at=now)
            .execution_options(synchronize_session=False)
        )


def known_studies(session: Session, nct_ids: Sequence[str]) -> dict[str, tuple[int, str | None]]:
    """(study id, last update posted) of each stored study among ``nct_ids``, by NCT ID."""
    found: dict[str, tuple[int, str | None]] = {}
    ids = list(nct_ids)
    for start in range(0, len(ids), _IN_BATCH):
        rows = session.execute(
            select(Study.registry_id, Study.id, Study.last_update_posted).where(
                Study.registry_id.in_(ids[start : start + _IN_BATCH])
            )
        ).tuples()
        found.update((nct, (sid, posted)) for nct, sid, posted in rows)
    return found


def current_records(session: Session, study_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The current record of each study, by study id."""
    return _old_records(session, list(study_ids)) if study_ids else {}


_IN_BATCH = 500  # values per IN (...) list


def get_study(session: Session, nct_id: str) -> Study:
    row = session.scalar(select(Study).where(Study.registry_id == nct_id.upper()))
    if row is None:
        raise NotFoundError(f"no stored study {nct_id} (sync a watchlist that matches it first)")
    return row


def versions_of(session: Session, study_id: int) -> list[StudyVersion]:
    return list(
        session.scalars(
            select(StudyVersion)
            .where(StudyVersion.study_id == study_id)
            .order_by(StudyVersion.version)
        )
    )


def record_by_version(session: Session, study_id: int, version: int) -> dict[str, Any] | None:
    """One stored version of a study's record, or None if there is no such version."""
    text = session.scalar(
        select(StudyVersion.record).where(
            StudyVersion.study_id == study_id, StudyVersion.version == version
        )
    )
    return None if text is None else dict(orjson.loads(text))


def current_record(session: Session, study: Study) -> dict[str, Any]:
    return record_by_version(session, study.id, study.current_version) or {}


def current_version_ids(session: Session, study_ids: Sequence[int]) -> dict[int, int]:
    """The id of each study's current version row, by study id."""
    return dict(
        iter(
            session.execute(
                select(Study.id, StudyVersion.id)
                .join(StudyVersion, StudyVersion.study_id == Study.id)
                .where(Study.id.in_(list(study_ids)), StudyVersion.version == Study.current_version)
            ).tuples()
        )
    )


def study_rows(
    session: Session, nct_ids: Sequence[str]
) -> Sequence[Row[tuple[str, str, str | None, str | None]]]:
    """(nct_id, brief title, acronym, overall status) of each study named."""
    return session.execute(
        select(Study.registry_id, Study.brief_title, Study.acronym, Study.overall_status).where(
            Study.registry_id.in_(list(nct_ids))
        )
    ).all()


def current_records_by_nct(session: Session, nct_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The current record of each study named that is stored, by NCT ID."""
    query = (
        select(Study.registry_id, StudyVersion.record)
        .join(
            StudyVersion,
            and_(StudyVersion.study_id == Study.id, StudyVersion.version == Study.current_version),
        )
        .where(Study.registry_id.in_(list(nct_ids)))
    )
    return {nct: dict(orjson.loads(text)) for nct, text in session.execute(query).tuples()}
