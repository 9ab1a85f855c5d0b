"""The sync job: one watchlist, one run, from ClinicalTrials.gov into the store.

``sync_watchlist`` is one step: the CLI, the scheduler and the tests call the
same function. Each page is written in its own transaction together with the
run's counters; the watchlist cursor advances only when the whole run succeeds,
so a run that dies part-way is repaired by the next one (already stored pages
are recognised by their content hash and store nothing twice).

A record that cannot be stored (no NCT ID, say) is skipped, counted on the run
with the place of the first one, and logged at WARNING: the rest of its page is
stored and the run succeeds. Paging that never ends fails the run, naming the
watchlist.

Size: over the ~400-line aim because the run, its pages and its departures share
the run's counters and failure handling; each function is one step of a run.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from trialwatch.clock import utcnow
from trialwatch.ctgov.client import Page
from trialwatch.ctgov.parse import nct_id_of, record_problem
from trialwatch.ctgov.query import build_ids_params, build_search_params
from trialwatch.diff import left_watchlist, removed_from_registry
from trialwatch.errors import CtgovPageLoop, TrialwatchError, first_line
from trialwatch.jobs.records import change_rows, store_records
from trialwatch.store import changes as change_store
from trialwatch.store import runs as run_store
from trialwatch.store import studies as study_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.locks import exclusive_lock
from trialwatch.watchlists import Criteria

log = logging.getLogger("trialwatch.jobs.sync")

FULL_SYNC_EVERY = timedelta(days=7)
_IDS_PER_REQUEST = 200  # keeps the filter.ids URL short


class StudySource(Protocol):
    """What the sync needs from the API client (``CtgovClient`` provides it)."""

    @property
    def request_count(self) -> int: ...

    def data_timestamp(self) -> str: ...

    def iter_pages(self, params: Any, *, page_size: int = ...) -> Any: ...


@dataclass
class SyncProgress:
    """Reported after each stored page."""

    slug: str
    page: int
    seen: int
    total: int | None


@dataclass
class SyncResult:
    slug: str
    run_id: int
    mode: str
    status: str
    pages: int = 0
    requests: int = 0
    seen: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    left: int = 0
    removed: int = 0
    changes: int = 0
    skipped: int = 0  # malformed records not stored
    skip_reason: str | None = None  # the first one's, with its page and position
    seconds: float = 0.0
    data_timestamp: str | None = None
    cursor: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, page: _PageCounts) -> None:
        self.pages += 1
        self.seen += page.seen
        self.new += page.new
        self.updated += page.updated
        self.unchanged += page.unchanged
        self.changes += page.changes
        self.skip(page.skipped, page.skip_reason)

    def skip(self, count: int, reason: str | None) -> None:
        self.skipped += count
        if self.skip_reason is None:
            self.skip_reason = reason

    def to_dict(self) -> dict[str, Any]:
        return {
            "watchlist": self.slug,
            "run_id": self.run_id,
            "mode": self.mode,
            "status": self.status,
            "pages": self.pages,
            "requests": self.requests,
            "seen": self.seen,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "left": self.left,
            "removed": self.removed,
            "changes": self.changes,
            "skipped": self.skipped,
            "skip_reason": self.skip_reason,
            "seconds": round(self.seconds, 3),
            "data_timestamp": self.data_timestamp,
            "cursor": self.cursor,
            "error": self.error,
        }


def sync_watchlist(
    engine: Engine,
    client: StudySource,
    slug: str,
    *,
    full: bool = False,
    page_size: int = 250,
    overlap_days: int = 1,
    api_url: str = "",
    now: Callable[[], datetime] = utcnow,
    on_page: Callable[[SyncProgress], None] | None = None,
) -> SyncResult:
    """Sync one watchlist; raises the client's error after marking the run failed."""
    factory = make_sessionmaker(engine)
    with exclusive_lock(engine, f"sync of watchlist '{slug}'"):
        return _sync_locked(
            factory,
            client,
            slug,
            full=full,
            page_size=page_size,
            overlap_days=overlap_days,
            api_url=api_url,
            now=now,
            on_page=on_page,
        )


@dataclass(frozen=True)
class _Plan:
    """What one run will do, decided before it starts."""

    watchlist_id: int
    run_id: int
    mode: str
    cursor: date | None
    params: dict[str, Any]
    criteria: Criteria
    criteria_hash: str
    updated_since: date | None = None


def _sync_locked(
    factory: sessionmaker[Session],
    client: StudySource,
    slug: str,
    *,
    full: bool,
    page_size: int,
    overlap_days: int,
    api_url: str,
    now: Callable[[], datetime],
    on_page: Callable[[SyncProgress], None] | None,
) -> SyncResult:
    started = time.perf_counter()
    requests_before = client.request_count
    plan = _begin(factory, slug, full=full, overlap_days=overlap_days, api_url=api_url, now=now)
    result = SyncResult(slug=slug, run_id=plan.run_id, mode=plan.mode, status="running")
    try:
        result.data_timestamp = client.data_timestamp()
        with session_scope(factory) as session:
            run_store.set_data_timestamp(session, plan.run_id, result.data_timestamp)
        max_seen = _fetch_pages(
            factory, client, plan, result, page_size, now, requests_before, on_page
        )
        listed_seen = _fetch_listed(
            factory, client, plan, result, page_size, now, requests_before, on_page
        )
        max_seen = max(filter(None, [max_seen, listed_seen]), default=None)
        if plan.mode == "full":
            result.left, result.removed = _settle_departures(
                factory, client, plan.watchlist_id, plan.run_id, now, page_size, result, slug
            )
        new_cursor = max(filter(None, [plan.cursor, max_seen]), default=None)
        with session_scope(factory) as session:
            run_store.finish_run(
                session,
                plan.run_id,
                now=now(),
                left=result.left,
                cursor_after=new_cursor,
                requests=client.request_count - requests_before,
            )
            watchlist_store.set_synced(
                session,
                plan.watchlist_id,
                new_cursor,
                now(),
                criteria_hash=plan.criteria_hash,
                data_timestamp=result.data_timestamp,
            )
        result.status = "succeeded"
        result.cursor = new_cursor.isoformat() if new_cursor else None
    except CtgovPageLoop as exc:
        failure = CtgovPageLoop(f"sync of watchlist '{slug}' stopped: {exc}")
        _mark_failed(factory, client, result, failure, plan.run_id, now(), requests_before)
        raise failure from exc
    except BaseException as exc:
        _mark_failed(factory, client, result, exc, plan.run_id, now(), requests_before)
        raise
    finally:
        result.requests = client.request_count - requests_before
        result.seconds = time.perf_counter() - started
    _log_finished(result)
    return result


def _begin(
    factory: sessionmaker[Session],
    slug: str,
    *,
    full: bool,
    overlap_days: int,
    api_url: str,
    now: Callable[[], datetime],
) -> _Plan:
    """Settle abandoned runs, choose full or incremental, open the run, build the query.

    The run is full when asked, when there is no cursor yet, when the last full run is
    over a week old, and when the criteria differ from those of the last successful
    sync (``watchlist.criteria_hash``): new matches join and old ones leave at once.
    """
    with session_scope(factory) as session:
        watchlist = watchlist_store.get_watchlist(session, slug)
        abandoned = run_store.abandon_running(session, watchlist.id, now())
        if abandoned:
            log.warning("marked %d abandoned run(s) of %s as failed", abandoned, slug)
        watchlist_id = watchlist.id
        criteria = Criteria.from_dict(watchlist.criteria)
        cursor = watchlist.sync_cursor
        synced_hash = watchlist.criteria_hash
        last_full = run_store.last_full_run(session, watchlist_id)
    criteria_hash = criteria.criteria_hash()
    stale_full = last_full is None or now() - last_full.started_at > FULL_SYNC_EVERY
    edited = synced_hash != criteria_hash
    mode = "full" if full or cursor is None or stale_full or edited else "incremental"
    with session_scope(factory) as session:
        run_id = run_store.start_run(
            session, watchlist_id, mode=mode, now=now(), api_url=api_url, cursor_before=cursor
        )
    updated_since: date | None = None
    if mode == "incremental" and cursor is not None:
        updated_since = cursor - timedelta(days=overlap_days)
    params = build_search_params(criteria, updated_since=updated_since)
    params["countTotal"] = "true"
    log.debug(
        "sync started watchlist=%s run=%d mode=%s since=%s criteria_changed=%s",
        slug,
        run_id,
        mode,
        updated_since.isoformat() if updated_since else "-",
        edited,
    )
    return _Plan(watchlist_id, run_id, mode, cursor, params, criteria, criteria_hash, updated_since)


def _fetch_listed(
    factory: sessionmaker[Session],
    client: StudySource,
    plan: _Plan,
    result: SyncResult,
    page_size: int,
    now: Callable[[], datetime],
    requests_before: int,
    on_page: Callable[[SyncProgress], None] | None,
) -> date | None:
    """Fetch the listed NCT IDs the search did not return: they are always watched.

    The search already holds them (``AREA[NCTId]`` or ``filter.ids``), so only when
    status, phase or country filters are set can it miss one; those are then asked for
    by ID, without the filters (narrowed by the cursor like the search). Returns the
    newest update date seen.
    """
    c = plan.criteria
    if not c.nct_ids or not (c.statuses or c.phases or c.countries):
        return None
    with session_scope(factory) as session:
        matched = watchlist_store.matched_by_run(session, plan.watchlist_id, plan.run_id, c.nct_ids)
    missing = [nct for nct in c.nct_ids if nct not in matched]
    max_seen: date | None = None
    for start in range(0, len(missing), _IDS_PER_REQUEST):
        batch = missing[start : start + _IDS_PER_REQUEST]
        params = build_ids_params(batch, updated_since=plan.updated_since)
        seen = _fetch_pages(
            factory,
            client,
            replace(plan, params=params),
            result,
            page_size,
            now,
            requests_before,
            on_page,
        )
        max_seen = max(filter(None, [max_seen, seen]), default=None)
    return max_seen


def _fetch_pages(
    factory: sessionmaker[Session],
    client: StudySource,
    plan: _Plan,
    result: SyncResult,
    page_size: int,
    now: Callable[[], datetime],
    requests_before: int,
    on_page: Callable[[SyncProgress], None] | None,
) -> date | None:
    """Fetch and store every page of the query; return the newest update date seen."""
    max_seen: date | None = None
    total: int | None = None
    page: Page
    with _collector_paused():
        for page in client.iter_pages(plan.params, page_size=page_size):
            if page.total_count is not None:
                total = page.total_count
            requests = client.request_count - requests_before
            counts = _store_page(factory, page, plan.watchlist_id, plan.run_id, now(), requests)
            result.add(counts)
            if counts.skipped:
                _log_skipped(result.slug, plan.run_id, counts.skipped, counts.skip_reason)
            if counts.max_last_update and (max_seen is None or counts.max_last_update > max_seen):
                max_seen = counts.max_last_update
            log.debug(
                "page stored watchlist=%s page=%d studies=%d new=%d updated=%d",
                result.slug,
                page.number,
                len(page.studies),
                counts.new,
                counts.updated,
            )
            if on_page is not None:
                on_page(
                    SyncProgress(slug=result.slug, page=page.number, seen=result.seen, total=total)
                )
            del page  # free this page before the next is fetched
            gc.collect(0)  # no page is alive now: cheap; frees the page's SQLAlchemy cycles
    return max_seen


def _log_skipped(slug: str, run_id: int, count: int, reason: str | None) -> None:
    log.warning(
        "skipped %d malformed record(s) watchlist=%s run=%d: %s", count, slug, run_id, reason
    )


def _log_finished(result: SyncResult) -> None:
    log.info(
        "sync finished watchlist=%s run=%d mode=%s pages=%d requests=%d seen=%d new=%d "
        "updated=%d unchanged=%d left=%d skipped=%d seconds=%.2f",
        result.slug,
        result.run_id,
        result.mode,
        result.pages,
        result.requests,
        result.seen,
        result.new,
        result.updated,
        result.unchanged,
        result.left,
        result.skipped,
        result.seconds,
    )


def _mark_failed(
    factory: sessionmaker[Session],
    client: StudySource,
    result: SyncResult,
    exc: BaseException,
    run_id: int,
    now: datetime,
    requests_before: int,
) -> None:
    result.status = "failed"
    result.error = _one_line(exc)
    with session_scope(factory) as session:
        run_store.fail_run(
            session,
            run_id,
            now=now,
            error=result.error,
            requests=client.request_count - requests_before,
        )
    # A TrialwatchError is reported by the caller (one line in the CLI); log the rest.
    level = logging.DEBUG if isinstance(exc, TrialwatchError) else logging.ERROR
    log.log(level, "sync failed watchlist=%s run=%d error=%s", result.slug, run_id, result.error)


def _usable(records: list[dict[str, Any]], where: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a page that can be stored, and why each other one cannot."""
    good: list[dict[str, Any]] = []
    reasons: list[str] = []
    for position, record in enumerate(records, start=1):
        problem = record_problem(record)
        if problem is None:
            good.append(record)
        else:
            reasons.append(f"{where}, record {position}: {problem}")
    return good, reasons


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while pages are parsed and stored.

    A page of 1000 full records is ~1.5 million containers: with the collector on,
    parsing one triggers full collections that traverse them (and the previous page)
    again and again, two thirds of the parse time (bench/sync.py). The caller runs
    ``gc.collect(0)`` between pages, when no page is alive, to free the page's
    reference cycles cheaply.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class _PageCounts:
    seen: int
    new: int
    updated: int
    unchanged: int
    changes: int
    max_last_update: date | None
    skipped: int = 0
    skip_reason: str | None = None


def _store_page(
    factory: sessionmaker[Session],
    page: Page,
    watchlist_id: int,
    run_id: int,
    now: datetime,
    requests: int,
) -> _PageCounts:
    """Store one page, its changes and the run's counters in one transaction."""
    records, problems = _usable(page.studies, f"page {page.number}")
    with session_scope(factory) as session:
        stored = store_records(session, records, watchlist_id=watchlist_id, run_id=run_id, now=now)
        run_store.add_page(
            session,
            run_id,
            seen=len(page.studies),
            new=stored.new,
            updated=stored.updated,
            unchanged=stored.unchanged,
            requests=requests,
        )
        run_store.add_skipped(session, run_id, problems)
        run_store.add_unknown_sections(session, run_id, stored.unknown_sections)
    return _PageCounts(
        seen=len(page.studies),
        new=stored.new,
        updated=stored.updated,
        unchanged=stored.unchanged,
        changes=stored.changes,
        max_last_update=stored.max_last_update,
        skipped=len(problems),
        skip_reason=problems[0] if problems else None,
    )


def _settle_departures(
    factory: sessionmaker[Session],
    client: StudySource,
    watchlist_id: int,
    run_id: int,
    now: Callable[[], datetime],
    page_size: int,
    result: SyncResult,
    slug: str,
) -> tuple[int, int]:
    """After a full run: members it did not see have left the watchlist or the registry.

    The registry is asked for them by NCT ID: those it still returns left the
    watchlist (their latest record is stored as usual); the others were removed.
    Returns (left, removed).
    """
    with session_scope(factory) as session:
        gone = dict(study_store.members_not_seen(session, watchlist_id, run_id))
    if not gone:
        return 0, 0
    by_nct = {nct: sid for sid, nct in gone.items()}
    still_listed: set[str] = set()
    ids = sorted(by_nct)
    for start in range(0, len(ids), _IDS_PER_REQUEST):
        params = build_ids_params(ids[start : start + _IDS_PER_REQUEST])
        for page in client.iter_pages(params, page_size=page_size):
            records, problems = _usable(page.studies, f"departure check page {page.number}")
            with session_scope(factory) as session:
                store_records(
                    session,
                    records,
                    watchlist_id=watchlist_id,
                    run_id=run_id,
                    now=now(),
                    touch_membership=False,
                )
                run_store.add_skipped(session, run_id, problems)
            if problems:
                result.skip(len(problems), problems[0])
                _log_skipped(slug, run_id, len(problems), problems[0])
            still_listed.update(nct_id_of(r) for r in records)
    with session_scope(factory) as session:
        name = watchlist_store.watchlist_name(session, watchlist_id)
        rows = []
        for nct, sid in by_nct.items():
            record = study_store.current_record(session, study_store.get_study(session, nct))
            if nct in still_listed:
                change, scope = left_watchlist(record, name), watchlist_id
            else:
                change, scope = removed_from_registry(record), None
            rows.extend(
                change_rows(
                    [change],
                    study_id=sid,
                    version_id=None,
                    watchlist_id=scope,
                    run_id=run_id,
                    now=now(),
                )
            )
        change_store.insert_changes(session, rows)
        study_store.mark_left(session, watchlist_id, list(gone), now())
    removed = len(by_nct) - len(still_listed & set(by_nct))
    log.info("departures watchlist_id=%d left=%d removed=%d", watchlist_id, len(gone), removed)
    return len(gone), removed


def _one_line(exc: BaseException) -> str:
    """The run's error column: our own errors as they read, others with their type."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, TrialwatchError):
        return first_line(exc)
    return f"{type(exc).__name__}: {first_line(exc)}" if str(exc).strip() else type(exc).__name__
