"""Pages into the store: the one path by which records the registry sent are stored.

Every page a sync stores (a page of full records paged directly, a page fetched by
ID for the runs that wanted it, a departure check) goes through
:func:`store_batch`, :data:`STORE_BATCH` records at a time: the unusable ones are
skipped and counted with their place, the rest stored for the run that wanted each.
Pages are parsed one record at a time and never held parsed whole.

A light listing stores no record: it reads each record's ID and update day
(:func:`list_pages`) so that only what moved is fetched (:func:`fetch_moved`),
once for the whole batch.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from typing import Any

from sqlalchemy.orm import Session

from trialwatch.jobs.records import PageOutcome, parse_day, store_records
from trialwatch.jobs.sync_plan import moved
from trialwatch.jobs.sync_run import (
    Context,
    Run,
    SyncProgress,
    counting,
    note_skipped,
    progress,
    requests_so_far,
)
from trialwatch.registries.base import Params, RecordPage
from trialwatch.store import runs as run_store
from trialwatch.store import studies as study_store
from trialwatch.store.db import session_scope

log = logging.getLogger("trialwatch.jobs.sync")

STORE_BATCH = 100  # records parsed, hashed and stored at once (a parsed record is ~10x its JSON)


@dataclass
class Stored:
    """What one batch stored for one run."""

    run: Run
    outcome: PageOutcome
    ids: list[str]


@dataclass
class BatchOutcome:
    stored: list[Stored] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why each unusable record was skipped


def store_batch(
    ctx: Context,
    session: Session,
    batch: Sequence[tuple[int, Any]],
    *,
    where: str,
    owner: Run,
    now: datetime,
    wanted: Mapping[str, Run] | None = None,
    membership: bool = True,
) -> BatchOutcome:
    """Store a batch of numbered records in the caller's transaction.

    A record the registry calls unusable is skipped, counted on ``owner``'s run with
    its place (``where``, record N). The others are stored, each for the run that
    ``wanted`` it (``owner`` by default), with their changes. ``membership`` False
    stores records without touching the watchlist's membership (a departure check).
    """
    registry = ctx.registry
    by_run: dict[int, tuple[Run, list[Any]]] = {}
    out = BatchOutcome()
    for position, record in batch:
        problem = registry.problem(record)
        if problem is not None:
            out.skipped.append(f"{where}, record {position}: {problem}")
            continue
        run = owner if wanted is None else wanted.get(registry.record_id(record), owner)
        by_run.setdefault(id(run), (run, []))[1].append(record)
    if out.skipped:
        run_store.add_skipped(session, owner.plan.run_id, out.skipped)
    for run, records in by_run.values():
        plan = run.plan
        outcome = store_records(
            session,
            records,
            watchlist_id=plan.watchlist_id,
            run_id=plan.run_id,
            now=now,
            touch_membership=membership,
        )
        if membership:
            run_store.add_unknown_sections(session, plan.run_id, outcome.unknown_sections)
        out.stored.append(Stored(run, outcome, [registry.record_id(r) for r in records]))
    return out


def batches(records: Iterable[Any]) -> Iterator[list[tuple[int, Any]]]:
    """The records of a page with their 1-based positions, :data:`STORE_BATCH` at a time."""
    numbered = enumerate(records, start=1)
    while batch := list(islice(numbered, STORE_BATCH)):
        yield batch


@contextmanager
def collector_paused() -> Iterator[None]:
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


# --- paging full records directly -------------------------------------------------------


@dataclass
class PageCounts:
    seen: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    changes: int = 0
    drifted: int = 0
    max_last_update: date | None = None
    stored: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)

    def add(self, outcome: PageOutcome) -> None:
        self.new += outcome.new
        self.updated += outcome.updated
        self.unchanged += outcome.unchanged
        self.changes += outcome.changes
        self.drifted += outcome.drifted
        self.max_last_update = max(
            filter(None, [self.max_last_update, outcome.max_last_update]), default=None
        )


def fetch_pages(ctx: Context, run: Run, params: Params) -> date | None:
    """Fetch and store every page of full records; return the newest update date seen."""
    result = run.result
    max_seen: date | None = None
    total: int | None = None
    with collector_paused():
        for page in ctx.registry.iter_pages(params, page_size=ctx.page_size):
            if page.total_count is not None:
                total = page.total_count
            counts = _store_page(ctx, run, page)
            result.pages += 1
            result.seen += counts.seen
            result.new += counts.new
            result.updated += counts.updated
            result.unchanged += counts.unchanged
            result.changes += counts.changes
            result.drifted += counts.drifted
            result.fetched += len(counts.stored)
            note_skipped(run, counts.skipped)
            ctx.batch.fetched.update(counts.stored)
            ctx.batch.returned.update(counts.stored)
            max_seen = max(filter(None, [max_seen, counts.max_last_update]), default=None)
            log.debug(
                "page stored watchlist=%s page=%d studies=%d new=%d updated=%d",
                result.slug,
                page.number,
                counts.seen,
                counts.new,
                counts.updated,
            )
            progress(ctx, SyncProgress(result.slug, page.number, result.seen, total))
            del page  # free this page before the next is fetched
            gc.collect(0)  # no page is alive now: cheap; frees the page's SQLAlchemy cycles
    return max_seen


def _store_page(ctx: Context, run: Run, page: RecordPage) -> PageCounts:
    """Store one page, its changes and the run's counters in one transaction."""
    counts = PageCounts()
    now = ctx.now()
    with session_scope(ctx.factory) as session:
        for batch in batches(page.studies):
            counts.seen += len(batch)
            out = store_batch(ctx, session, batch, where=f"page {page.number}", owner=run, now=now)
            for stored in out.stored:
                counts.add(stored.outcome)
                counts.stored.update(stored.ids)
            counts.skipped += out.skipped
        run_store.add_page(
            session,
            run.plan.run_id,
            seen=counts.seen,
            new=counts.new,
            updated=counts.updated,
            unchanged=counts.unchanged,
            requests=requests_so_far(ctx, run),
        )
    return counts


# --- light listings, then what moved fetched once ---------------------------------------


def list_pages(ctx: Context, run: Run, params: Params) -> None:
    """Page through a light listing: the ID and update day of each member."""
    result, registry = run.result, ctx.registry
    total: int | None = None
    for page in registry.iter_pages(registry.listing(params), page_size=registry.max_page_size):
        if page.total_count is not None:
            total = page.total_count
        reasons: list[str] = []
        seen = 0
        for position, record in enumerate(page.studies, start=1):
            seen += 1
            problem = registry.problem(record)
            if problem is not None:
                reasons.append(f"page {page.number}, record {position}: {problem}")
                continue
            day = parse_day(registry.last_update(record))
            run.listed[registry.record_id(record)] = day
            run.saw(day)
        with session_scope(ctx.factory) as session:
            run_store.add_counts(session, run.plan.run_id, pages=1, seen=seen)
            run_store.add_skipped(session, run.plan.run_id, reasons)
        result.pages += 1
        result.seen += seen
        note_skipped(run, reasons)
        progress(ctx, SyncProgress(result.slug, page.number, result.seen, total))


def fetch_moved(ctx: Context, runs: Sequence[Run]) -> None:
    """Fetch, once, the full record of every listed study that moved."""
    wanted: dict[str, Run] = {}
    with session_scope(ctx.factory) as session:
        known = study_store.known_studies(
            session, sorted({nct for run in runs for nct in run.listed})
        )
    for run in runs:
        for nct, day in run.listed.items():
            if nct in wanted or nct in ctx.batch.fetched:
                continue
            if moved(known.get(nct), day, run.plan.recheck_from):
                wanted[nct] = run
    del known
    ids = list(wanted)
    log.debug("fetching %d moved studies of %d watchlist(s)", len(ids), len(runs))
    step = ctx.registry.ids_per_request
    for number, start in enumerate(range(0, len(ids), step), start=1):
        chunk = ids[start : start + step]
        owner = wanted[chunk[0]]
        with counting(ctx, owner), collector_paused():
            for page in ctx.registry.fetch(chunk):
                _store_fetched(ctx, page, wanted, owner, number)
                del page
                gc.collect(0)
        ctx.batch.fetched.update(chunk)
        progress(ctx, SyncProgress(owner.result.slug, number, owner.result.seen, None))


def _store_fetched(
    ctx: Context, page: RecordPage, wanted: dict[str, Run], owner: Run, number: int
) -> None:
    """Store one page of fetched records, each for the run that wanted it (one transaction)."""
    now = ctx.now()
    done: list[Stored] = []
    skipped: list[str] = []
    with session_scope(ctx.factory) as session:
        for batch in batches(page.studies):
            out = store_batch(
                ctx, session, batch, where=f"fetch {number}", owner=owner, now=now, wanted=wanted
            )
            skipped += out.skipped
            for stored in out.stored:
                outcome = stored.outcome
                run_store.add_counts(
                    session, stored.run.plan.run_id, new=outcome.new, updated=outcome.updated
                )
            done += out.stored
    note_skipped(owner, skipped)
    for stored in done:
        result, outcome = stored.run.result, stored.outcome
        result.new += outcome.new
        result.updated += outcome.updated
        result.changes += outcome.changes
        result.drifted += outcome.drifted
        result.fetched += len(stored.ids)
        stored.run.stored_here.update(stored.ids)
        ctx.batch.returned.update(stored.ids)
