"""The sync job: watchlists, one run each, from a registry into the store.

Requests are the scarce resource (CT.gov throttles at about 50 a minute), so a sync
asks for as little as it can:

* **Nothing new, nothing asked.** The registry's data version (CT.gov ``/version``)
  is asked once per batch (the cycle passes the one it polled). An incremental sync
  whose watchlist last saw that same version, with unchanged criteria, stores
  nothing and asks nothing more.
* **Membership listings.** An incremental sync whose data version moved lists the
  whole membership when that costs no more than the search it replaces, and at
  least daily otherwise (:mod:`.sync_plan`); departures (:mod:`.departures`),
  ``watchlist.members_listed_at`` and the run's ``listed`` count (the drop alert's)
  come from such listings.
* **Light listings.** A full re-sync (weekly, ``--full`` or edited criteria) first
  lists its members (ID and update day, 1,000 a page), then fetches full records by
  ID only for studies not stored yet, whose update day moved past the stored
  version's, or updated within ``overlap_days`` of the watchlist's last sync.
* **One fetch per study per batch.** When several watchlists are synced together
  (:func:`sync_watchlists`: the scheduler's cycle, ``trialwatch sync`` of all),
  every one is listed first, then the union of what moved is fetched once.
* Pages are parsed one record at a time and stored in batches (:mod:`.sync_pages`,
  the one page → store path) inside the page's transaction.

A first sync of a watchlist with no members (with nothing fetched yet in its batch),
and a lone incremental sync that does not list its membership, page through the full
records directly: everything they list must be fetched anyway.

Each page is written in its own transaction together with the run's counters
(:mod:`.sync_run`); the watchlist cursor advances only when the whole run succeeds.
A record that cannot be stored is skipped and counted on the run with its place;
the rest of its page is stored. Paging that never ends fails the run, naming the
watchlist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import date, datetime
from functools import partial

from sqlalchemy import Engine

from trialwatch.clock import utcnow
from trialwatch.errors import TrialwatchError, first_line
from trialwatch.jobs.departures import settle_departures
from trialwatch.jobs.records import join_members
from trialwatch.jobs.sync_pages import STORE_BATCH, fetch_moved, fetch_pages, list_pages
from trialwatch.jobs.sync_plan import (
    FULL_SYNC_EVERY,
    MEMBERS_LISTED_EVERY,
    incremental_way,
    lists_members,
    unfiltered_ids,
)
from trialwatch.jobs.sync_run import (
    Context,
    Run,
    SyncBatch,
    SyncProgress,
    SyncResult,
    call,
    counting,
    data_version,
    fail,
    finish,
    log,
    open_run,
)
from trialwatch.registries.base import Registry
from trialwatch.store import runs as run_store
from trialwatch.store import studies as study_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.locks import HeldLock, exclusive_lock

__all__ = [
    "FULL_SYNC_EVERY",
    "MEMBERS_LISTED_EVERY",
    "STORE_BATCH",
    "SyncBatch",
    "SyncProgress",
    "SyncResult",
    "lists_members",
    "sync_watchlist",
    "sync_watchlists",
]

_Outcomes = dict[str, SyncResult]


def sync_watchlist(
    engine: Engine,
    registry: Registry,
    slug: str,
    *,
    full: bool = False,
    page_size: int | None = None,
    overlap_days: int = 1,
    api_url: str = "",
    now: Callable[[], datetime] = utcnow,
    on_page: Callable[[SyncProgress], None] | None = None,
    batch: SyncBatch | None = None,
) -> SyncResult:
    """Sync one watchlist; raises the registry's error after marking the run failed."""
    [result] = sync_watchlists(
        engine,
        registry,
        [slug],
        full=full,
        page_size=page_size,
        overlap_days=overlap_days,
        api_url=api_url,
        now=now,
        on_page=on_page,
        batch=batch,
    )
    if result.failure is not None:
        raise result.failure
    return result


def sync_watchlists(
    engine: Engine,
    registry: Registry,
    slugs: Sequence[str],
    *,
    full: bool = False,
    page_size: int | None = None,
    overlap_days: int = 1,
    api_url: str = "",
    now: Callable[[], datetime] = utcnow,
    on_page: Callable[[SyncProgress], None] | None = None,
    batch: SyncBatch | None = None,
    between: Callable[[], None] | None = None,
) -> list[SyncResult]:
    """Sync watchlists together: list each, fetch the union of what moved once, settle each.

    Returns, in the order of ``slugs`` (a slug named twice is synced once), each
    watchlist's result; a failed one has status ``failed``, its ``error`` and its
    ``failure`` (its run marked failed, if one was opened). One failing watchlist
    does not stop the others. An error that is not a :class:`TrialwatchError` (an
    interrupt, a bug), or that a callback raised (a lost leader lease), fails every
    open run and is raised. ``between`` is called before each watchlist but the
    first is listed (the cycle's spacing). Each page and step first checks that the
    watchlists' locks are still held: a lock whose connection ended raises
    :class:`~trialwatch.errors.LockLost` and stops the batch.
    """
    locks: list[HeldLock] = []

    def check_locks(event: SyncProgress | None = None) -> None:
        for lock in locks:
            lock.check()
        if event is not None and on_page is not None:
            on_page(event)

    ctx = Context(
        make_sessionmaker(engine),
        registry,
        batch if batch is not None else SyncBatch(),
        page_size or registry.max_page_size,
        overlap_days,
        api_url,
        now,
        check_locks,
        single=len(set(slugs)) == 1,
    )
    outcomes: _Outcomes = {}
    unique = list(dict.fromkeys(slugs))
    with ExitStack() as held:
        for slug in sorted(unique):  # one order for every process: no deadlock
            try:
                locks.append(
                    held.enter_context(exclusive_lock(engine, f"sync of watchlist '{slug}'"))
                )
            except TrialwatchError as exc:
                outcomes[slug] = SyncResult.not_opened(slug, exc)
        slugs_left = [s for s in unique if s not in outcomes]
        _run_batch(ctx, slugs_left, outcomes, full=full, between=between, check=check_locks)
    return [outcomes[slug] for slug in slugs]


def _run_batch(
    ctx: Context,
    slugs: Sequence[str],
    outcomes: _Outcomes,
    *,
    full: bool,
    between: Callable[[], None] | None,
    check: Callable[[], None],
) -> None:
    """The three phases of a batch: list or sync each, fetch what moved, settle each."""
    runs: list[Run] = []
    try:
        for slug in slugs:
            if between is not None and runs:
                call(ctx, between)
            try:
                run = open_run(ctx, slug, full=full)
            except TrialwatchError as exc:
                outcomes[slug] = SyncResult.not_opened(slug, exc)
                continue
            runs.append(run)
            _step(ctx, run, outcomes, partial(_list_or_sync, ctx, run))
        listed = [r for r in runs if not r.done]
        call(ctx, check)
        if listed:
            try:
                fetch_moved(ctx, listed)
            except TrialwatchError as exc:
                if exc is ctx.batch.stopped:
                    raise
                for run in listed:
                    outcomes[run.result.slug] = fail(ctx, run, exc)
        call(ctx, check)
        for run in runs:
            if not run.done:
                _step(ctx, run, outcomes, partial(_settle, ctx, run))
    except BaseException as exc:
        for run in runs:
            if not run.done:
                fail(ctx, run, exc)
        _fail_half_opened(ctx, slugs)
        raise


def _fail_half_opened(ctx: Context, slugs: Sequence[str]) -> None:
    """Fail a run a stop caught between its row's commit and its return (we hold the locks:
    any run of these watchlists still 'running' is ours)."""
    for slug in slugs:
        try:
            with session_scope(ctx.factory) as session:
                watchlist = watchlist_store.get_watchlist(session, slug)
                run_store.interrupt_running(session, watchlist.id, ctx.now())
        except Exception as exc:  # the stop in flight matters more: it is raised next
            log.warning("run of %s not marked interrupted: %s", slug, first_line(exc))


def _step(ctx: Context, run: Run, outcomes: _Outcomes, step: Callable[[], None]) -> None:
    """Run one step of a run; a TrialwatchError fails the run (only)."""
    try:
        with counting(ctx, run):
            step()
    except TrialwatchError as exc:
        if exc is ctx.batch.stopped:
            raise
        outcomes[run.result.slug] = fail(ctx, run, exc)
    else:
        if run.done:
            outcomes[run.result.slug] = run.result


def _list_or_sync(ctx: Context, run: Run) -> None:
    """Phase one of a run: nothing to do, a direct sync, or the light listing."""
    plan, result = run.plan, run.result
    result.data_timestamp = data_version(ctx)
    if result.data_timestamp is not None:  # None: a registry that publishes no version
        with session_scope(ctx.factory) as session:
            run_store.set_data_timestamp(session, plan.run_id, result.data_timestamp)
    if (
        plan.mode == "incremental"
        and result.data_timestamp is not None
        and result.data_timestamp == plan.synced_timestamp
    ):
        log.debug("registry unchanged since the last sync watchlist=%s", result.slug)
        finish(ctx, run)
        return
    direct = plan.mode == "full" and plan.members == 0 and not ctx.batch.fetched
    run.membership = plan.mode == "full"
    if plan.mode == "incremental":
        run.membership, direct = incremental_way(
            plan, single=ctx.single, page_size=ctx.page_size, now=ctx.now()
        )
    if plan.mode == "incremental" and run.membership:
        run.plan = plan = replace(
            plan,
            params=plan.members_params,
            updated_since=None,
            recheck_from=plan.members_recheck_from,
        )
    if direct:
        _sync_directly(ctx, run)
        return
    list_pages(ctx, run, plan.params)
    missing = [i for i in unfiltered_ids(plan.criteria) if i not in run.listed]
    step = ctx.registry.ids_per_request
    for start in range(0, len(missing), step):
        ids = missing[start : start + step]
        list_pages(ctx, run, ctx.registry.plan_ids(ids, updated_since=plan.updated_since))


def _sync_directly(ctx: Context, run: Run) -> None:
    """Page the full records of the search, then the always-watched IDs it missed."""
    run.saw(fetch_pages(ctx, run, run.plan.params))
    run.saw(_fetch_unfiltered(ctx, run))
    if run.membership:
        run.listed_count = run.result.seen
        run.result.left, run.result.removed = settle_departures(ctx, run)
    finish(ctx, run)


def _fetch_unfiltered(ctx: Context, run: Run) -> date | None:
    """Fetch the listed IDs the search did not return: they are always watched
    (:func:`~.sync_plan.unfiltered_ids`), asked for by ID without the filters
    (narrowed by the cursor like the search). Returns the newest update day seen."""
    plan = run.plan
    ids = unfiltered_ids(plan.criteria)
    if not ids:
        return None
    with session_scope(ctx.factory) as session:
        matched = watchlist_store.matched_by_run(session, plan.watchlist_id, plan.run_id, ids)
    missing = [i for i in ids if i not in matched]
    max_seen: date | None = None
    step = ctx.registry.ids_per_request
    for start in range(0, len(missing), step):
        chunk = missing[start : start + step]
        params = ctx.registry.plan_ids(chunk, updated_since=plan.updated_since)
        seen = fetch_pages(ctx, run, params)
        max_seen = max(filter(None, [max_seen, seen]), default=None)
    return max_seen


def _settle(ctx: Context, run: Run) -> None:
    """Phase three: the listed studies not fetched are members as stored; then departures."""
    plan, result = run.plan, run.result
    rest = [i for i in run.listed if i not in run.stored_here]
    for start in range(0, len(rest), STORE_BATCH):
        chunk = rest[start : start + STORE_BATCH]
        with session_scope(ctx.factory) as session:
            known = study_store.known_studies(session, chunk)
            result.changes += join_members(
                session,
                watchlist_id=plan.watchlist_id,
                study_ids=[known[i][0] for i in chunk if i in known],
                run_id=plan.run_id,
                now=ctx.now(),
            )
    unchanged = len(run.listed) - result.new - result.updated
    result.unchanged += unchanged
    with session_scope(ctx.factory) as session:
        run_store.add_counts(session, plan.run_id, unchanged=unchanged)
    if run.membership:
        run.listed_count = len(run.listed)
        result.left, result.removed = settle_departures(ctx, run)
    finish(ctx, run)
