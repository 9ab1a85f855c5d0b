"""Sync run rows: opened, counted page by page, closed as succeeded or failed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from trialwatch.store.models import SyncRun, Watchlist


def start_run(
    session: Session,
    watchlist_id: int,
    *,
    mode: str,
    now: datetime,
    api_url: str,
    cursor_before: date | None,
) -> int:
    """Open a ``running`` run; return its id."""
    run = SyncRun(
        watchlist_id=watchlist_id,
        mode=mode,
        status="running",
        started_at=now,
        api_url=api_url,
        cursor_before=cursor_before,
    )
    session.add(run)
    session.flush()
    return run.id


def set_data_timestamp(session: Session, run_id: int, data_timestamp: str) -> None:
    session.get_one(SyncRun, run_id).data_timestamp = data_timestamp


def add_page(
    session: Session,
    run_id: int,
    *,
    seen: int,
    new: int,
    updated: int,
    unchanged: int,
    requests: int,
) -> None:
    """Count one stored page on its run (in the page's transaction)."""
    run = session.get_one(SyncRun, run_id)
    run.pages += 1
    run.seen += seen
    run.new += new
    run.updated += updated
    run.unchanged += unchanged
    run.requests = requests


def add_counts(
    session: Session,
    run_id: int,
    *,
    pages: int = 0,
    seen: int = 0,
    new: int = 0,
    updated: int = 0,
    unchanged: int = 0,
) -> None:
    """Add to a run's counters (in the transaction of what they count)."""
    run = session.get_one(SyncRun, run_id)
    run.pages += pages
    run.seen += seen
    run.new += new
    run.updated += updated
    run.unchanged += unchanged


def add_skipped(session: Session, run_id: int, reasons: list[str]) -> None:
    """Count records the run could not store, keeping the first reason."""
    if reasons:
        run = session.get_one(SyncRun, run_id)
        run.skipped += len(reasons)
        run.skip_reason = run.skip_reason or reasons[0]


def finish_run(
    session: Session,
    run_id: int,
    *,
    now: datetime,
    left: int,
    cursor_after: date | None,
    requests: int,
    listed: int | None = None,
) -> None:
    """Close a run as succeeded; ``listed``: the members its listing of the whole
    membership found (the watchlist's ``members_listed_at`` becomes ``now``)."""
    run = session.get_one(SyncRun, run_id)
    run.status = "succeeded"
    run.finished_at = now
    run.left = left
    run.cursor_after = cursor_after
    run.requests = requests
    if listed is not None:
        run.listed = listed
        session.get_one(Watchlist, run.watchlist_id).members_listed_at = now


def fail_run(session: Session, run_id: int, *, now: datetime, error: str, requests: int) -> None:
    run = session.get_one(SyncRun, run_id)
    run.status = "failed"
    run.finished_at = now
    run.error = error
    run.requests = requests


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


def interrupt_running(session: Session, watchlist_id: int, now: datetime) -> int:
    """Mark this process's runs of the watchlist still 'running' as interrupted (lock held)."""
    result = session.execute(
        update(SyncRun)
        .where(SyncRun.watchlist_id == watchlist_id, SyncRun.status == "running")
        .values(status="failed", finished_at=now, error="interrupted")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


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
        "listed": run.listed,
        "skipped": run.skipped,
        "skip_reason": run.skip_reason,
        "drifted": run.drifted,
        "drift": list(run.drift or ()),
        "data_timestamp": run.data_timestamp,
        "cursor_before": run.cursor_before.isoformat() if run.cursor_before else None,
        "cursor_after": run.cursor_after.isoformat() if run.cursor_after else None,
        "error": run.error,
    }


def last_success_at(session: Session, watchlist_id: int) -> datetime | None:
    """When the newest succeeded run of the watchlist finished (None: never succeeded)."""
    return session.scalar(
        select(SyncRun.finished_at)
        .where(SyncRun.watchlist_id == watchlist_id, SyncRun.status == "succeeded")
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(1)
    )


MAX_UNKNOWN_SECTIONS = 50  # names kept per run (each cut to 100 characters)


def add_unknown_sections(session: Session, run_id: int, sections: Iterable[str]) -> None:
    """Add top-level record sections TrialWatch does not know to the run's sorted list."""
    names = {name[:100] for name in sections}
    if not names:
        return
    run = session.get_one(SyncRun, run_id)
    known = set(run.unknown_sections or ())
    if not names <= known:
        run.unknown_sections = sorted(known | names)[:MAX_UNKNOWN_SECTIONS]


def latest_runs(session: Session) -> dict[int, SyncRun]:
    """The newest run of each watchlist that has one, by watchlist id."""
    newest = select(func.max(SyncRun.id)).group_by(SyncRun.watchlist_id)
    return {
        run.watchlist_id: run
        for run in session.scalars(select(SyncRun).where(SyncRun.id.in_(newest)))
    }


MAX_DRIFT = 50  # drifted field names kept per run (each cut to 200 characters)


def add_drift(session: Session, run_id: int, records: int, names: Iterable[str]) -> None:
    """Count records whose fields had another JSON type than the spec's, and add what
    drifted (``"<path>: <type>, expected <type>"``) to the run's sorted list."""
    run = session.get_one(SyncRun, run_id)
    run.drifted += records
    found = {name[:200] for name in names}
    known = set(run.drift or ())
    if not found <= known:
        run.drift = sorted(known | found)[:MAX_DRIFT]
