"""The sync job: watchlists, one run each, from ClinicalTrials.gov into the store.

Requests are the scarce resource (the API throttles at about 50 a minute), so a sync
asks for as little as it can:

* **Nothing new, nothing asked.** ``/version`` is asked once per batch (the cycle
  passes the one it polled). An incremental sync whose watchlist last saw that same
  ``dataTimestamp``, with unchanged criteria, stores nothing and asks nothing more.
* **Membership listings.** An incremental sync whose ``dataTimestamp`` moved lists
  the whole membership when that costs no more than the search it replaces (one
  page: alone, a page of full records; in a batch, a light page), and at least daily
  otherwise (:func:`lists_members`, :func:`_incremental_way`); departures,
  ``watchlist.members_listed_at`` and the run's ``listed`` count (the drop alert's)
  come from such listings.
* **Light listings.** A full re-sync (weekly, ``--full`` or edited criteria) first
  lists its members with ``fields=NCTId,LastUpdatePostDate``, 1,000 a page, then
  fetches full records, by ``filter.ids`` in batches of :data:`IDS_PER_REQUEST`, only
  for studies not stored yet, whose ``LastUpdatePostDate`` moved past the stored
  version's, or updated within ``overlap_days`` of the watchlist's last sync (the
  day granularity of that date: a second update the same day moves nothing).
* **One fetch per study per batch.** When several watchlists are synced together
  (:func:`sync_watchlists`: the scheduler's cycle, ``trialwatch sync`` of all),
  every one is listed first, then the union of what moved is fetched once.
* Pages are parsed one record at a time (``ctgov.client``) and stored in batches of
  :data:`STORE_BATCH` inside the page's transaction.

A first sync of a watchlist with no members (with nothing fetched yet in its batch),
and a lone incremental sync that does not list its membership, page through the full
records directly: everything they list must be fetched anyway, and the listing would
cost requests of its own.

Each page is written in its own transaction together with the run's counters; the
watchlist cursor advances only when the whole run succeeds, so a run that dies
part-way is repaired by the next one (stored pages are recognised by their hash).

A record whose fields have another JSON type than the spec's is stored, its drifted
fields not diffed, and counted on the run (``jobs.records``).
A record that cannot be stored (no NCT ID, say) is skipped, counted on the run
with the place of the first one, and logged at WARNING: the rest of its page is
stored and the run succeeds. Paging that never ends fails the run, naming the
watchlist.

Size: over the ~400-line aim because the runs of a batch share its phases, their
counters and failure handling; each function is one step of a run.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import partial
from itertools import islice
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from trialwatch.clock import utcnow
from trialwatch.diff import left_watchlist, removed_from_registry
from trialwatch.errors import PageLoop, TrialwatchError, first_line
from trialwatch.jobs.records import change_rows, join_members, parse_day, store_records
from trialwatch.registries.ctgov.client import MAX_PAGE_SIZE, Page
from trialwatch.registries.ctgov.parse import (
    MEMBERSHIP_FIELDS,
    last_update_of,
    nct_id_of,
    record_problem,
)
from trialwatch.registries.ctgov.query import build_ids_params, build_search_params, listing_params
from trialwatch.store import changes as change_store
from trialwatch.store import runs as run_store
from trialwatch.store import studies as study_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.locks import HeldLock, exclusive_lock
from trialwatch.watchlists import Criteria

log = logging.getLogger("trialwatch.jobs.sync")

FULL_SYNC_EVERY = timedelta(days=7)
# NCT IDs per filter.ids request: each is 11 characters and a comma (sent as %2C),
# so 500 make ~7 KB of query string, under the ~8 KB that servers and proxies
# commonly accept for a request line. One page of 1,000 holds them all.
IDS_PER_REQUEST = 500
STORE_BATCH = 100  # records parsed, hashed and stored at once (a parsed record is ~10x its JSON)
LISTING_PAGE_SIZE = MAX_PAGE_SIZE  # light records: the API's largest page
# A watchlist whose listing costs more than an incremental search lists its members
# at least this often; under a day, so that a daily schedule's jitter never skips one.
MEMBERS_LISTED_EVERY = timedelta(hours=20)


class StudySource(Protocol):
    """What the sync needs from the API client (``CtgovClient`` provides it)."""

    @property
    def request_count(self) -> int: ...

    def data_timestamp(self) -> str: ...

    def iter_pages(self, params: Any, *, page_size: int = ...) -> Any: ...


@dataclass
class SyncProgress:
    """Reported after each stored or listed page."""

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
    drifted: int = 0  # records with fields of another JSON type than the spec's
    seconds: float = 0.0
    data_timestamp: str | None = None
    cursor: str | None = None
    error: str | None = None
    fetched: int = 0  # full records downloaded
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, page: _PageCounts) -> None:
        self.pages += 1
        self.seen += page.seen
        self.new += page.new
        self.updated += page.updated
        self.unchanged += page.unchanged
        self.changes += page.changes
        self.drifted += page.drifted
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
            "drifted": self.drifted,
            "seconds": round(self.seconds, 3),
            "data_timestamp": self.data_timestamp,
            "cursor": self.cursor,
            "error": self.error,
        }


@dataclass
class SyncBatch:
    """What the syncs of one batch (one cycle) share.

    ``data_timestamp`` is the registry's, asked once (or handed over by the cycle
    that polled it); ``fetched`` holds the NCT IDs whose full record was fetched in
    the batch, so that a study several watchlists share is downloaded once, and
    ``returned`` those the registry sent: a departure among them is known to be
    still registered without asking again.
    """

    data_timestamp: str | None = None
    fetched: set[str] = field(default_factory=set)
    returned: set[str] = field(default_factory=set)  # of those, the ones the registry sent
    failure: TrialwatchError | None = None  # /version failed: every run of the batch fails
    stopped: BaseException | None = None  # raised by a callback: stops the whole batch


def sync_watchlist(
    engine: Engine,
    client: StudySource,
    slug: str,
    *,
    full: bool = False,
    page_size: int = MAX_PAGE_SIZE,
    overlap_days: int = 1,
    api_url: str = "",
    now: Callable[[], datetime] = utcnow,
    on_page: Callable[[SyncProgress], None] | None = None,
    batch: SyncBatch | None = None,
) -> SyncResult:
    """Sync one watchlist; raises the client's error after marking the run failed."""
    [outcome] = sync_watchlists(
        engine,
        client,
        [slug],
        full=full,
        page_size=page_size,
        overlap_days=overlap_days,
        api_url=api_url,
        now=now,
        on_page=on_page,
        batch=batch,
    )
    if isinstance(outcome, TrialwatchError):
        raise outcome
    return outcome


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
    synced_timestamp: str | None = None  # the dataTimestamp the last successful sync saw
    members: int = 0
    recheck_from: date = date.min  # listed studies updated since are fetched even if not moved
    listed_at: datetime | None = None  # when a sync last listed the whole membership
    members_params: dict[str, Any] = field(default_factory=dict)  # the search, no date filter
    members_recheck_from: date = date.min  # recheck_from of a listing of the whole membership


@dataclass
class _Run:
    """One watchlist's run inside a batch."""

    plan: _Plan
    result: SyncResult
    started: float
    requests: int = 0
    listed: dict[str, date | None] = field(default_factory=dict)
    stored_here: set[str] = field(default_factory=set)  # fetched and matched by this run
    max_seen: date | None = None
    membership: bool = False  # lists the whole membership: departures are settled
    listed_count: int | None = None  # members the listing found
    done: bool = False
    counting_since: int | None = None  # the client's request count when this step began


@dataclass(frozen=True)
class _Context:
    factory: sessionmaker[Session]
    client: StudySource
    batch: SyncBatch
    page_size: int
    overlap_days: int
    api_url: str
    now: Callable[[], datetime]
    on_page: Callable[[SyncProgress], None] | None
    single: bool


def sync_watchlists(
    engine: Engine,
    client: StudySource,
    slugs: Sequence[str],
    *,
    full: bool = False,
    page_size: int = MAX_PAGE_SIZE,
    overlap_days: int = 1,
    api_url: str = "",
    now: Callable[[], datetime] = utcnow,
    on_page: Callable[[SyncProgress], None] | None = None,
    batch: SyncBatch | None = None,
    between: Callable[[], None] | None = None,
) -> list[SyncResult | TrialwatchError]:
    """Sync watchlists together: list each, fetch the union of what moved once, settle each.

    Returns, in the order of ``slugs`` (a slug named twice is synced once), each
    watchlist's result or the error that failed it (its run marked failed); one
    failing watchlist does not stop the others. An error that is not a
    :class:`TrialwatchError` (an interrupt, a bug), or that a callback raised (a lost
    leader lease), fails every open run and is raised. ``between`` is called before
    each watchlist but the first is listed (the cycle's spacing). Each page and step
    first checks that the watchlists' locks are still held: a lock whose connection
    ended raises :class:`~trialwatch.errors.LockLost` and stops the batch.
    """
    locks: list[HeldLock] = []

    def check_locks(progress: SyncProgress | None = None) -> None:
        for lock in locks:
            lock.check()
        if progress is not None and on_page is not None:
            on_page(progress)

    ctx = _Context(
        make_sessionmaker(engine),
        client,
        batch if batch is not None else SyncBatch(),
        page_size,
        overlap_days,
        api_url,
        now,
        check_locks,
        single=len(set(slugs)) == 1,
    )
    outcomes: dict[str, SyncResult | TrialwatchError] = {}
    runs: list[_Run] = []
    unique = list(dict.fromkeys(slugs))
    with ExitStack() as held:
        for slug in sorted(unique):  # one order for every process: no deadlock
            try:
                locks.append(
                    held.enter_context(exclusive_lock(engine, f"sync of watchlist '{slug}'"))
                )
            except TrialwatchError as exc:
                outcomes[slug] = exc
        try:
            for slug in unique:
                if slug in outcomes:
                    continue
                if between is not None and runs:
                    _call(ctx, between)
                try:
                    run = _open(ctx, slug, full=full)
                except TrialwatchError as exc:
                    outcomes[slug] = exc
                    continue
                runs.append(run)
                _step(ctx, run, outcomes, partial(_list_or_sync, ctx, run))
            listed = [r for r in runs if not r.done]
            _call(ctx, check_locks)
            if listed:
                try:
                    _fetch_moved(ctx, listed)
                except TrialwatchError as exc:
                    if exc is ctx.batch.stopped:
                        raise
                    for run in listed:
                        outcomes[run.result.slug] = _fail(ctx, run, exc)
            _call(ctx, check_locks)
            for run in runs:
                if not run.done:
                    _step(ctx, run, outcomes, partial(_settle, ctx, run))
        except BaseException as exc:
            for run in runs:
                if not run.done:
                    _fail(ctx, run, exc)
            raise
    return [outcomes[slug] for slug in slugs]


def _step(
    ctx: _Context,
    run: _Run,
    outcomes: dict[str, SyncResult | TrialwatchError],
    step: Callable[[], None],
) -> None:
    """Run one step of a run; a TrialwatchError fails the run (only)."""
    try:
        with _counting(ctx, run):
            step()
    except TrialwatchError as exc:
        if exc is ctx.batch.stopped:
            raise
        outcomes[run.result.slug] = _fail(ctx, run, exc)
    else:
        if run.done:
            outcomes[run.result.slug] = run.result


@contextmanager
def _counting(ctx: _Context, run: _Run) -> Iterator[None]:
    """Count the requests made inside on ``run``."""
    before = ctx.client.request_count
    run.counting_since = before
    try:
        yield
    finally:
        run.counting_since = None
        run.requests += ctx.client.request_count - before
        run.result.requests = run.requests


def _requests(ctx: _Context, run: _Run) -> int:
    """The requests of the run so far, the current step's included."""
    if run.counting_since is None:
        return run.requests
    return run.requests + ctx.client.request_count - run.counting_since


def _progress(ctx: _Context, progress: SyncProgress) -> None:
    on_page = ctx.on_page
    if on_page is not None:
        _call(ctx, partial(on_page, progress))


def _call(ctx: _Context, callback: Callable[[], object]) -> None:
    """Call back the caller; what it raises stops the batch (e.g. a lost leader lease)."""
    try:
        callback()
    except BaseException as exc:
        ctx.batch.stopped = exc
        raise


def _open(ctx: _Context, slug: str, *, full: bool) -> _Run:
    started = time.perf_counter()
    plan = _begin(
        ctx.factory,
        slug,
        full=full,
        overlap_days=ctx.overlap_days,
        api_url=ctx.api_url,
        now=ctx.now,
    )
    result = SyncResult(slug=slug, run_id=plan.run_id, mode=plan.mode, status="running")
    return _Run(plan=plan, result=result, started=started)


def _data_timestamp(ctx: _Context) -> str:
    """The registry's dataTimestamp, asked once per batch."""
    batch = ctx.batch
    if batch.failure is not None:
        raise batch.failure
    if batch.data_timestamp is None:
        try:
            batch.data_timestamp = ctx.client.data_timestamp()
        except TrialwatchError as exc:
            batch.failure = exc
            raise
    return batch.data_timestamp


def _list_or_sync(ctx: _Context, run: _Run) -> None:
    """Phase one of a run: nothing to do, a direct sync, or the light listing."""
    plan, result = run.plan, run.result
    result.data_timestamp = _data_timestamp(ctx)
    with session_scope(ctx.factory) as session:
        run_store.set_data_timestamp(session, plan.run_id, result.data_timestamp)
    if plan.mode == "incremental" and result.data_timestamp == plan.synced_timestamp:
        log.debug("registry unchanged since the last sync watchlist=%s", result.slug)
        _finish(ctx, run)
        return
    direct = plan.mode == "full" and plan.members == 0 and not ctx.batch.fetched
    run.membership = plan.mode == "full"
    if plan.mode == "incremental":
        run.membership, direct = _incremental_way(ctx, plan)
    if plan.mode == "incremental" and run.membership:
        run.plan = plan = replace(
            plan,
            params=plan.members_params,
            updated_since=None,
            recheck_from=plan.members_recheck_from,
        )
    if direct:
        run.max_seen = _fetch_pages(ctx, run, plan.params)
        listed_seen = _fetch_listed(ctx, run)
        run.max_seen = max(filter(None, [run.max_seen, listed_seen]), default=None)
        if run.membership:
            run.listed_count = result.seen
            result.left, result.removed = _settle_departures(ctx, run)
        _finish(ctx, run)
        return
    _list_pages(ctx, run, listing_params(plan.params, MEMBERSHIP_FIELDS))
    c = plan.criteria
    if c.nct_ids and (c.statuses or c.phases or c.countries):
        missing = [nct for nct in c.nct_ids if nct not in run.listed]
        for start in range(0, len(missing), IDS_PER_REQUEST):
            ids = build_ids_params(
                missing[start : start + IDS_PER_REQUEST], updated_since=plan.updated_since
            )
            _list_pages(ctx, run, listing_params(ids, MEMBERSHIP_FIELDS))


def _list_pages(ctx: _Context, run: _Run, params: dict[str, str]) -> None:
    """Page through a light listing: the NCT ID and update date of each member."""
    result = run.result
    total: int | None = None
    for page in ctx.client.iter_pages(params, page_size=LISTING_PAGE_SIZE):
        if page.total_count is not None:
            total = page.total_count
        reasons: list[str] = []
        seen = 0
        for position, record in enumerate(page.studies, start=1):
            seen += 1
            problem = record_problem(record)
            if problem is not None:
                reasons.append(f"page {page.number}, record {position}: {problem}")
                continue
            day = parse_day(last_update_of(record))
            run.listed[nct_id_of(record)] = day
            if day is not None and (run.max_seen is None or day > run.max_seen):
                run.max_seen = day
        with session_scope(ctx.factory) as session:
            run_store.add_counts(session, run.plan.run_id, pages=1, seen=seen)
            run_store.add_skipped(session, run.plan.run_id, reasons)
        result.pages += 1
        result.seen += seen
        if reasons:
            result.skip(len(reasons), reasons[0])
            _log_skipped(result.slug, run.plan.run_id, len(reasons), reasons[0])
        _progress(ctx, SyncProgress(result.slug, page.number, result.seen, total))


def _moved(known: tuple[int, str | None] | None, listed: date | None, recheck_from: date) -> bool:
    """Whether a listed study's full record must be fetched."""
    if known is None or listed is None:
        return True
    stored = parse_day(known[1])
    return stored is None or listed > stored or listed >= recheck_from


def _fetch_moved(ctx: _Context, runs: Sequence[_Run]) -> None:
    """Phase two: fetch, once, the full record of every listed study that moved."""
    wanted: dict[str, _Run] = {}
    with session_scope(ctx.factory) as session:
        known = study_store.known_studies(
            session, sorted({nct for run in runs for nct in run.listed})
        )
    for run in runs:
        for nct, day in run.listed.items():
            if nct in wanted or nct in ctx.batch.fetched:
                continue
            if _moved(known.get(nct), day, run.plan.recheck_from):
                wanted[nct] = run
    del known
    ids = list(wanted)
    log.debug("fetching %d moved studies of %d watchlist(s)", len(ids), len(runs))
    for number, start in enumerate(range(0, len(ids), IDS_PER_REQUEST), start=1):
        chunk = ids[start : start + IDS_PER_REQUEST]
        owner = wanted[chunk[0]]
        with _counting(ctx, owner), _collector_paused():
            for page in ctx.client.iter_pages(build_ids_params(chunk), page_size=MAX_PAGE_SIZE):
                _store_fetched(ctx, page, wanted, owner, number)
                del page
                gc.collect(0)
        ctx.batch.fetched.update(chunk)
        _progress(ctx, SyncProgress(owner.result.slug, number, owner.result.seen, None))


def _store_fetched(
    ctx: _Context, page: Page, wanted: dict[str, _Run], owner: _Run, number: int
) -> None:
    """Store one page of fetched records, each for the run that wanted it (one transaction)."""
    now = ctx.now()
    with session_scope(ctx.factory) as session:
        for batch in _batches(page.studies):
            by_run: dict[int, tuple[_Run, list[dict[str, Any]]]] = {}
            reasons: list[str] = []
            for position, record in batch:
                problem = record_problem(record)
                if problem is not None:
                    reasons.append(f"fetch {number}, record {position}: {problem}")
                    continue
                run = wanted.get(nct_id_of(record), owner)
                by_run.setdefault(id(run), (run, []))[1].append(record)
            if reasons:
                run_store.add_skipped(session, owner.plan.run_id, reasons)
                owner.result.skip(len(reasons), reasons[0])
                _log_skipped(owner.result.slug, owner.plan.run_id, len(reasons), reasons[0])
            for run, records in by_run.values():
                plan = run.plan
                stored = store_records(
                    session, records, watchlist_id=plan.watchlist_id, run_id=plan.run_id, now=now
                )
                run_store.add_counts(session, plan.run_id, new=stored.new, updated=stored.updated)
                run_store.add_unknown_sections(session, plan.run_id, stored.unknown_sections)
                run.result.new += stored.new
                run.result.updated += stored.updated
                run.result.changes += stored.changes
                run.result.drifted += stored.drifted
                run.result.fetched += len(records)
                run.stored_here.update(nct_id_of(r) for r in records)
                ctx.batch.returned.update(nct_id_of(r) for r in records)


def _settle(ctx: _Context, run: _Run) -> None:
    """Phase three: the listed studies not fetched are members as stored; then departures."""
    plan, result = run.plan, run.result
    rest = [nct for nct in run.listed if nct not in run.stored_here]
    for start in range(0, len(rest), STORE_BATCH):
        chunk = rest[start : start + STORE_BATCH]
        with session_scope(ctx.factory) as session:
            known = study_store.known_studies(session, chunk)
            result.changes += join_members(
                session,
                watchlist_id=plan.watchlist_id,
                study_ids=[known[nct][0] for nct in chunk if nct in known],
                run_id=plan.run_id,
                now=ctx.now(),
            )
    unchanged = len(run.listed) - result.new - result.updated
    result.unchanged += unchanged
    with session_scope(ctx.factory) as session:
        run_store.add_counts(session, plan.run_id, unchanged=unchanged)
    if run.membership:
        run.listed_count = len(run.listed)
        result.left, result.removed = _settle_departures(ctx, run)
    _finish(ctx, run)


def _finish(ctx: _Context, run: _Run) -> None:
    plan, result = run.plan, run.result
    new_cursor = max(filter(None, [plan.cursor, run.max_seen]), default=None)
    result.requests = _requests(ctx, run)
    with session_scope(ctx.factory) as session:
        run_store.finish_run(
            session,
            plan.run_id,
            now=ctx.now(),
            left=result.left,
            cursor_after=new_cursor,
            requests=result.requests,
            listed=run.listed_count,
        )
        watchlist_store.set_synced(
            session,
            plan.watchlist_id,
            new_cursor,
            ctx.now(),
            criteria_hash=plan.criteria_hash,
            data_timestamp=result.data_timestamp,
        )
    result.status = "succeeded"
    result.cursor = new_cursor.isoformat() if new_cursor else None
    result.seconds = time.perf_counter() - run.started
    run.done = True
    _log_finished(result)


def _fail(ctx: _Context, run: _Run, exc: BaseException) -> TrialwatchError:
    """Mark the run failed; return the error to report (a page loop names the watchlist)."""
    slug = run.result.slug
    failure: BaseException = exc
    if isinstance(exc, PageLoop):
        failure = PageLoop(f"sync of watchlist '{slug}' stopped: {exc}")
        failure.__cause__ = exc
    result = run.result
    result.status = "failed"
    result.error = _one_line(failure)
    result.requests = run.requests
    result.seconds = time.perf_counter() - run.started
    run.done = True
    with session_scope(ctx.factory) as session:
        run_store.fail_run(
            session, run.plan.run_id, now=ctx.now(), error=result.error, requests=run.requests
        )
    # A TrialwatchError is reported by the caller (one line in the CLI); log the rest.
    level = logging.DEBUG if isinstance(failure, TrialwatchError) else logging.ERROR
    log.log(level, "sync failed watchlist=%s run=%d error=%s", slug, run.plan.run_id, result.error)
    return failure if isinstance(failure, TrialwatchError) else TrialwatchError(result.error)


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
        synced_timestamp = watchlist.data_timestamp
        last_synced = watchlist.last_synced_at
        members, _ = watchlist_store.watchlist_counts(session, watchlist_id)
        listed_at = watchlist.members_listed_at
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
    # A study updated again on the day it was fetched keeps its date: a listing of the
    # whole membership rechecks those.
    members_recheck_from = date.min
    if last_synced is not None:
        members_recheck_from = last_synced.date() - timedelta(days=overlap_days)
    recheck_from = members_recheck_from
    if mode == "incremental" and cursor is not None:
        updated_since = cursor - timedelta(days=overlap_days)
        recheck_from = date.min  # everything listed was updated since the cursor
    params = build_search_params(criteria, updated_since=updated_since)
    params["countTotal"] = "true"
    members_params = build_search_params(criteria) | {"countTotal": "true"}
    log.debug(
        "sync started watchlist=%s run=%d mode=%s since=%s criteria_changed=%s",
        slug,
        run_id,
        mode,
        updated_since.isoformat() if updated_since else "-",
        edited,
    )
    return _Plan(
        watchlist_id,
        run_id,
        mode,
        cursor,
        params,
        criteria,
        criteria_hash,
        updated_since,
        synced_timestamp=synced_timestamp,
        members=members,
        recheck_from=recheck_from,
        listed_at=listed_at,
        members_params=members_params,
        members_recheck_from=members_recheck_from,
    )


def lists_members(*, members: int, listed_at: datetime | None, now: datetime) -> bool:
    """Whether an incremental sync whose ``dataTimestamp`` moved lists the whole membership.

    A light listing takes ``ceil(members / 1000)`` requests and the incremental search
    (or listing of what was updated) at least one, so up to 1,000 members the listing
    replaces it at no extra request. A larger watchlist lists when its last listing is
    :data:`MEMBERS_LISTED_EVERY` old: departures and the drop alert come from these
    listings, within a day.
    """
    if math.ceil(members / LISTING_PAGE_SIZE) <= 1:
        return True
    return listed_at is None or now - listed_at >= MEMBERS_LISTED_EVERY


def _incremental_way(ctx: _Context, plan: _Plan) -> tuple[bool, bool]:
    """How an incremental sync whose ``dataTimestamp`` moved asks: (lists the whole
    membership, pages full records directly).

    A lone sync would page the updated full records directly (one page): when the
    whole membership fits one page of full records, that page lists it for the same
    requests, and holds every record that moved (nothing to fetch by ID). In a batch,
    the light listing (``fields=``, 1,000 a page) replaces the batch's light listing
    of what was updated; what moved is fetched once for the batch.
    """
    if ctx.single and math.ceil(plan.members / ctx.page_size) <= 1:
        return True, True
    listing = lists_members(members=plan.members, listed_at=plan.listed_at, now=ctx.now())
    return listing, ctx.single and not listing


def _fetch_listed(ctx: _Context, run: _Run) -> date | None:
    """Fetch the listed NCT IDs the search did not return: they are always watched.

    The search already holds them (``AREA[NCTId]`` or ``filter.ids``), so only when
    status, phase or country filters are set can it miss one; those are then asked for
    by ID, without the filters (narrowed by the cursor like the search). Returns the
    newest update date seen.
    """
    plan = run.plan
    c = plan.criteria
    if not c.nct_ids or not (c.statuses or c.phases or c.countries):
        return None
    with session_scope(ctx.factory) as session:
        matched = watchlist_store.matched_by_run(session, plan.watchlist_id, plan.run_id, c.nct_ids)
    missing = [nct for nct in c.nct_ids if nct not in matched]
    max_seen: date | None = None
    for start in range(0, len(missing), IDS_PER_REQUEST):
        batch = missing[start : start + IDS_PER_REQUEST]
        params = build_ids_params(batch, updated_since=plan.updated_since)
        seen = _fetch_pages(ctx, run, params)
        max_seen = max(filter(None, [max_seen, seen]), default=None)
    return max_seen


def _fetch_pages(ctx: _Context, run: _Run, params: dict[str, Any]) -> date | None:
    """Fetch and store every page of full records; return the newest update date seen."""
    result = run.result
    max_seen: date | None = None
    total: int | None = None
    page: Page
    with _collector_paused():
        for page in ctx.client.iter_pages(params, page_size=ctx.page_size):
            if page.total_count is not None:
                total = page.total_count
            counts = _store_page(ctx, run, page)
            result.add(counts)
            ctx.batch.fetched.update(counts.stored)
            ctx.batch.returned.update(counts.stored)
            if counts.skipped:
                _log_skipped(result.slug, run.plan.run_id, counts.skipped, counts.skip_reason)
            if counts.max_last_update and (max_seen is None or counts.max_last_update > max_seen):
                max_seen = counts.max_last_update
            log.debug(
                "page stored watchlist=%s page=%d studies=%d new=%d updated=%d",
                result.slug,
                page.number,
                counts.seen,
                counts.new,
                counts.updated,
            )
            _progress(ctx, SyncProgress(result.slug, page.number, result.seen, total))
            del page  # free this page before the next is fetched
            gc.collect(0)  # no page is alive now: cheap; frees the page's SQLAlchemy cycles
    return max_seen


def _log_skipped(slug: str, run_id: int, count: int, reason: str | None) -> None:
    log.warning(
        "skipped %d malformed record(s) watchlist=%s run=%d: %s", count, slug, run_id, reason
    )


def _log_finished(result: SyncResult) -> None:
    log.info(
        "sync finished watchlist=%s run=%d mode=%s pages=%d requests=%d seen=%d fetched=%d "
        "new=%d updated=%d unchanged=%d left=%d skipped=%d drifted=%d seconds=%.2f",
        result.slug,
        result.run_id,
        result.mode,
        result.pages,
        result.requests,
        result.seen,
        result.fetched,
        result.new,
        result.updated,
        result.unchanged,
        result.left,
        result.skipped,
        result.drifted,
        result.seconds,
    )


def _batches(records: Iterable[Any]) -> Iterator[list[tuple[int, Any]]]:
    """The records of a page with their 1-based positions, :data:`STORE_BATCH` at a time."""
    numbered = enumerate(records, start=1)
    while batch := list(islice(numbered, STORE_BATCH)):
        yield batch


def _usable(batch: Iterable[tuple[int, Any]], where: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a batch that can be stored, and why each other one cannot."""
    good: list[dict[str, Any]] = []
    reasons: list[str] = []
    for position, record in batch:
        problem = record_problem(record)
        if problem is None:
            good.append(record)
        else:
            reasons.append(f"{where}, record {position}: {problem}")
    return good, reasons


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while pages are parsed and stored.

    Parsing a page allocates millions of containers: with the collector on, it
    triggers full collections that traverse them again and again (bench/sync.py).
    The caller runs ``gc.collect(0)`` between pages, when no page is alive, to free
    the page's reference cycles cheaply.
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
    seen: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    changes: int = 0
    max_last_update: date | None = None
    skipped: int = 0
    skip_reason: str | None = None
    drifted: int = 0
    stored: set[str] = field(default_factory=set)


def _store_page(ctx: _Context, run: _Run, page: Page) -> _PageCounts:
    """Store one page, its changes and the run's counters in one transaction.

    The records are parsed, hashed and stored :data:`STORE_BATCH` at a time: the
    page is never held parsed whole.
    """
    plan = run.plan
    counts = _PageCounts()
    now = ctx.now()
    with session_scope(ctx.factory) as session:
        for batch in _batches(page.studies):
            records, problems = _usable(batch, f"page {page.number}")
            counts.seen += len(batch)
            stored = store_records(
                session, records, watchlist_id=plan.watchlist_id, run_id=plan.run_id, now=now
            )
            counts.new += stored.new
            counts.updated += stored.updated
            counts.unchanged += stored.unchanged
            counts.changes += stored.changes
            counts.drifted += stored.drifted
            counts.stored.update(nct_id_of(r) for r in records)
            if stored.max_last_update and (
                counts.max_last_update is None or stored.max_last_update > counts.max_last_update
            ):
                counts.max_last_update = stored.max_last_update
            counts.skipped += len(problems)
            counts.skip_reason = counts.skip_reason or (problems[0] if problems else None)
            run_store.add_skipped(session, plan.run_id, problems)
            run_store.add_unknown_sections(session, plan.run_id, stored.unknown_sections)
        run_store.add_page(
            session,
            plan.run_id,
            seen=counts.seen,
            new=counts.new,
            updated=counts.updated,
            unchanged=counts.unchanged,
            requests=_requests(ctx, run),
        )
    run.result.fetched += len(counts.stored)
    return counts


def _settle_departures(ctx: _Context, run: _Run) -> tuple[int, int]:
    """After a full run: members it did not see have left the watchlist or the registry.

    The registry is asked for them by NCT ID: those it still returns left the
    watchlist (their latest record is stored as usual); the others were removed.
    Those it sent earlier in the batch are not asked for again. Returns (left, removed).
    """
    plan, result, now = run.plan, run.result, ctx.now
    watchlist_id, run_id = plan.watchlist_id, plan.run_id
    with session_scope(ctx.factory) as session:
        gone = dict(study_store.members_not_seen(session, watchlist_id, run_id))
    if not gone:
        return 0, 0
    by_nct = {nct: sid for sid, nct in gone.items()}
    still_listed = set(by_nct) & ctx.batch.returned
    ids = sorted(set(by_nct) - still_listed)
    for start in range(0, len(ids), IDS_PER_REQUEST):
        params = build_ids_params(ids[start : start + IDS_PER_REQUEST])
        for page in ctx.client.iter_pages(params, page_size=MAX_PAGE_SIZE):
            with session_scope(ctx.factory) as session:
                for batch in _batches(page.studies):
                    records, problems = _usable(batch, f"departure check page {page.number}")
                    stored = store_records(
                        session,
                        records,
                        watchlist_id=watchlist_id,
                        run_id=run_id,
                        now=now(),
                        touch_membership=False,
                    )
                    result.drifted += stored.drifted
                    run_store.add_skipped(session, run_id, problems)
                    if problems:
                        result.skip(len(problems), problems[0])
                        _log_skipped(result.slug, run_id, len(problems), problems[0])
                    still_listed.update(nct_id_of(r) for r in records)
    with session_scope(ctx.factory) as session:
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
