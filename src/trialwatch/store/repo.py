"""Repository functions: (session, ...) -> rows or domain objects. No HTTP, no clock.

Writers of studies may run at the same time (two watchlists that share studies are
synced by two processes): rows with a unique key are written insert-or-get
(``INSERT … ON CONFLICT DO NOTHING … RETURNING``, then read back what another
writer stored first), in key order so that two writers wait for each other in one
order and never deadlock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import and_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from trialwatch.ctgov.parse import canonical_json, content_hash, nct_id_of, summarise
from trialwatch.errors import NotFoundError
from trialwatch.store.models import Study, StudyVersion, SyncRun, Watchlist, WatchlistStudy
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


def last_runs(session: Session, watchlist_id: int, limit: int = 5) -> list[SyncRun]:
    return list(
        session.scalars(
            select(SyncRun)
            .where(SyncRun.watchlist_id == watchlist_id)
            .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
            .limit(limit)
        )
    )


def last_full_run(session: Session, watchlist_id: int) -> SyncRun | None:
    return session.scalar(
        select(SyncRun)
        .where(
            SyncRun.watchlist_id == watchlist_id,
            SyncRun.mode == "full",
            SyncRun.status == "succeeded",
        )
        .order_by(SyncRun.started_at.desc())
        .limit(1)
    )


def abandon_running(session: Session, watchlist_id: int, now: datetime) -> int:
    """Mark runs left 'running' by a process that died as failed (call with the lock held)."""
    result = session.execute(
        update(SyncRun)
        .where(SyncRun.watchlist_id == watchlist_id, SyncRun.status == "running")
        .values(status="failed", finished_at=now, error="abandoned: the process ended mid-run")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass
class StoredVersion:
    """A version written by :func:`store_page`, with the record it replaced (None if new)."""

    study_id: int
    version_id: int
    version: int
    nct_id: str
    old_record: dict[str, Any] | None
    new_record: dict[str, Any]


@dataclass
class PageResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    max_last_update: date | None = None
    stored: list[StoredVersion] = field(default_factory=list)
    # Studies that joined the watchlist with this page (new members or returning ones).
    joined: list[int] = field(default_factory=list)
    records: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Prepared:
    nct_id: str
    record: dict[str, Any]
    canonical: bytes
    hash: str


def store_page(
    session: Session,
    records: Sequence[dict[str, Any]],
    *,
    watchlist_id: int,
    run_id: int,
    now: datetime,
    load_old_records: bool = True,
    touch_membership: bool = True,
) -> PageResult:
    """Store one page of records: a new version only where the content hash changed.

    Also refreshes the watchlist membership of every record. Runs inside the
    caller's transaction; nothing is committed here.

    Safe against a concurrent writer of the same studies: a study it inserted first
    is read back and compared like any stored study, and a version number it took
    first is left to it (its transaction stored that version and its changes); the
    next sync stores ours if the content still differs.
    """
    result = PageResult()
    prepared: dict[str, _Prepared] = {}
    for record in records:
        canonical = canonical_json(record)
        nct_id = nct_id_of(record)
        prepared[nct_id] = _Prepared(nct_id, record, canonical, content_hash(canonical))
        last = summarise(record).last_update_posted
        if last:
            day = _parse_day(last)
            if day and (result.max_last_update is None or day > result.max_last_update):
                result.max_last_update = day
    if not prepared:
        return result
    existing = _current_rows(session, list(prepared))
    ids = {nct: row.id for nct, row in existing.items()}
    fresh = sorted(
        (p for p in prepared.values() if p.nct_id not in existing), key=lambda p: p.nct_id
    )
    if fresh:
        study = Study.__table__
        inserted = dict(
            iter(
                session.execute(
                    _insert_or_skip(session, Study, "nct_id").returning(study.c.nct_id, study.c.id),
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
            existing.update(_current_rows(session, taken))
            ids.update({nct: existing[nct].id for nct in taken})
        fresh = [p for p in fresh if p.nct_id in inserted]
    changed = sorted(
        (
            p
            for p in prepared.values()
            if p.nct_id in existing and existing[p.nct_id].current_hash != p.hash
        ),
        key=lambda p: ids[p.nct_id],
    )
    old_records: dict[int, dict[str, Any]] = {}
    if changed and load_old_records:
        old_records = {
            sid: orjson.loads(text)
            for sid, text in session.execute(
                select(StudyVersion.study_id, StudyVersion.record)
                .join(Study, Study.id == StudyVersion.study_id)
                .where(
                    StudyVersion.study_id.in_([existing[p.nct_id].id for p in changed]),
                    StudyVersion.version == Study.current_version,
                )
            )
        }
    versions = [(p, 1) for p in fresh] + [
        (p, existing[p.nct_id].current_version + 1) for p in changed
    ]
    version_ids: dict[tuple[int, int], int] = {}
    if versions:
        rows = [
            {
                "study_id": ids[p.nct_id],
                "version": number,
                "content_hash": p.hash,
                "record": p.canonical.decode(),  # decoded only for the rows written
                "last_update_posted": summarise(p.record).last_update_posted,
                "fetched_at": now,
                "sync_run_id": run_id,
            }
            for p, number in versions
        ]
        rows.sort(key=lambda r: (r["study_id"], r["version"]))
        table = StudyVersion.__table__
        version_ids = {
            (sid, number): vid
            for vid, sid, number in session.execute(
                _insert_or_skip(session, StudyVersion, "study_id", "version").returning(
                    table.c.id, table.c.study_id, table.c.version
                ),
                rows,
            ).tuples()
        }
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
                new_record=p.record,
            )
        )
    result.new, result.updated = len(fresh), len(updates)
    result.unchanged = len(prepared) - result.new - result.updated
    result.records = {ids[p.nct_id]: p.record for p in prepared.values()}
    if touch_membership:
        result.joined = _touch_membership(session, watchlist_id, sorted(ids.values()), run_id, now)
    return result


@dataclass(frozen=True)
class _Current:
    id: int
    current_hash: str
    current_version: int


def _current_rows(session: Session, nct_ids: list[str]) -> dict[str, _Current]:
    return {
        nct: _Current(sid, digest, version)
        for sid, nct, digest, version in session.execute(
            select(Study.id, Study.nct_id, Study.current_hash, Study.current_version).where(
                Study.nct_id.in_(nct_ids)
            )
        ).tuples()
    }


def _insert_or_skip(session: Session, model: type[Any], *keys: str) -> Any:
    """``INSERT … ON CONFLICT (keys) DO NOTHING`` for the session's database.

    With ``RETURNING`` it returns only the rows this statement inserted; executed
    with a list of rows it is batched (insertmanyvalues), not row by row.
    """
    build = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return build(model.__table__).on_conflict_do_nothing(index_elements=list(keys))


def _study_columns(p: _Prepared) -> dict[str, Any]:
    summary = summarise(p.record)
    return {
        "nct_id": p.nct_id,
        "current_hash": p.hash,
        "brief_title": summary.brief_title,
        "acronym": summary.acronym,
        "overall_status": summary.overall_status,
        "phases": ",".join(summary.phases),
        "last_update_posted": summary.last_update_posted,
        "has_results": summary.has_results,
    }


def _touch_membership(
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
                _insert_or_skip(session, WatchlistStudy, "watchlist_id", "study_id").returning(
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
        select(Study.id, Study.nct_id)
        .join(WatchlistStudy, WatchlistStudy.study_id == Study.id)
        .where(
            WatchlistStudy.watchlist_id == watchlist_id,
            WatchlistStudy.left_at.is_(None),
            (WatchlistStudy.last_run_id != run_id) | WatchlistStudy.last_run_id.is_(None),
        )
        .order_by(Study.nct_id)
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


def get_study(session: Session, nct_id: str) -> Study:
    row = session.scalar(select(Study).where(Study.nct_id == nct_id.upper()))
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


def iter_current_records(
    session: Session, watchlist_id: int | None = None, *, include_left: bool = False
) -> Iterator[dict[str, Any]]:
    """Current record of every study (of one watchlist), by NCT ID, streamed."""
    query = select(StudyVersion.record).join(
        Study,
        and_(Study.id == StudyVersion.study_id, StudyVersion.version == Study.current_version),
    )
    if watchlist_id is not None:
        query = query.join(WatchlistStudy, WatchlistStudy.study_id == Study.id).where(
            WatchlistStudy.watchlist_id == watchlist_id
        )
        if not include_left:
            query = query.where(WatchlistStudy.left_at.is_(None))
    query = query.order_by(Study.nct_id).execution_options(yield_per=200)
    for text in session.scalars(query):
        yield orjson.loads(text)


def run_counts(run: SyncRun) -> Mapping[str, Any]:
    return {
        "run_id": run.id,
        "mode": run.mode,
        "status": run.status,
        "pages": run.pages,
        "requests": run.requests,
        "seen": run.seen,
        "new": run.new,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "left": run.left,
        "skipped": run.skipped,
        "skip_reason": run.skip_reason,
        "data_timestamp": run.data_timestamp,
        "cursor_before": run.cursor_before.isoformat() if run.cursor_before else None,
        "cursor_after": run.cursor_after.isoformat() if run.cursor_after else None,
        "error": run.error,
    }


def _parse_day(value: str) -> date | None:
    try:
        if len(value) == 7:  # "2025-03": month granularity
            return date.fromisoformat(value + "-01")
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
