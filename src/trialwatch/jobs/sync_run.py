"""A sync run's state and counters: opened, counted page by page, finished or failed.

Each page is written in its own transaction together with the run's counters; the
watchlist cursor advances only when the whole run succeeds (:func:`finish`), so a
run that dies part-way is repaired by the next one. A run that fails
(:func:`fail`) is marked failed in the store and returns its :class:`SyncResult`
too, with the error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from trialwatch.errors import PageLoop, TrialwatchError, first_line
from trialwatch.jobs.sync_plan import Plan, begin
from trialwatch.registries.base import Registry
from trialwatch.store import runs as run_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import session_scope

log = logging.getLogger("trialwatch.jobs.sync")


@dataclass
class SyncProgress:
    """Reported after each stored or listed page."""

    slug: str
    page: int
    seen: int
    total: int | None


@dataclass
class SyncResult:
    """One watchlist's sync, succeeded or failed.

    A failed one carries its error as text (``error``) and as the exception to report
    (``failure``, with its exit code); ``run_id`` and ``mode`` are None when no run
    could be opened (an unknown watchlist, a lock another process holds).
    """

    slug: str
    run_id: int | None
    mode: str | None
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
    failure: TrialwatchError | None = field(default=None, repr=False, compare=False)

    @classmethod
    def not_opened(cls, slug: str, exc: TrialwatchError) -> SyncResult:
        """The result of a watchlist whose run could not even be opened."""
        return cls(slug, None, None, "failed", error=first_line(exc), failure=exc)

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

    ``data_timestamp`` is the registry's data version, asked once (or handed over by
    the cycle that polled it); ``fetched`` holds the IDs whose full record was fetched
    in the batch, so that a study several watchlists share is downloaded once, and
    ``returned`` those the registry sent: a departure among them is known to be still
    registered without asking again.
    """

    data_timestamp: str | None = None
    fetched: set[str] = field(default_factory=set)
    returned: set[str] = field(default_factory=set)  # of those, the ones the registry sent
    failure: TrialwatchError | None = None  # the version failed: every run of the batch fails
    stopped: BaseException | None = None  # raised by a callback: stops the whole batch
    asked: bool = False  # the data version is known (None for a registry without one)

    def __post_init__(self) -> None:
        self.asked = self.asked or self.data_timestamp is not None


@dataclass
class Run:
    """One watchlist's run inside a batch."""

    plan: Plan
    result: SyncResult
    started: float
    requests: int = 0
    listed: dict[str, date | None] = field(default_factory=dict)
    stored_here: set[str] = field(default_factory=set)  # fetched and matched by this run
    max_seen: date | None = None
    membership: bool = False  # lists the whole membership: departures are settled
    listed_count: int | None = None  # members the listing found
    done: bool = False
    counting_since: int | None = None  # the registry's request count when this step began

    def saw(self, day: date | None) -> None:
        """Keep the newest update day seen (the cursor the run moves to)."""
        if day is not None and (self.max_seen is None or day > self.max_seen):
            self.max_seen = day


@dataclass(frozen=True)
class Context:
    """What every step of a batch shares."""

    factory: sessionmaker[Session]
    registry: Registry
    batch: SyncBatch
    page_size: int
    overlap_days: int
    api_url: str
    now: Callable[[], datetime]
    on_page: Callable[[SyncProgress], None] | None
    single: bool


def open_run(ctx: Context, slug: str, *, full: bool) -> Run:
    """Plan the run and open it in the store."""
    started = time.perf_counter()
    plan = begin(
        ctx.factory,
        ctx.registry,
        slug,
        full=full,
        overlap_days=ctx.overlap_days,
        api_url=ctx.api_url,
        now=ctx.now,
    )
    result = SyncResult(slug=slug, run_id=plan.run_id, mode=plan.mode, status="running")
    return Run(plan=plan, result=result, started=started)


@contextmanager
def counting(ctx: Context, run: Run) -> Iterator[None]:
    """Count the requests made inside on ``run``."""
    before = ctx.registry.request_count
    run.counting_since = before
    try:
        yield
    finally:
        run.counting_since = None
        run.requests += ctx.registry.request_count - before
        run.result.requests = run.requests


def requests_so_far(ctx: Context, run: Run) -> int:
    """The requests of the run so far, the current step's included."""
    if run.counting_since is None:
        return run.requests
    return run.requests + ctx.registry.request_count - run.counting_since


def progress(ctx: Context, event: SyncProgress) -> None:
    on_page = ctx.on_page
    if on_page is not None:
        call(ctx, partial(on_page, event))


def call(ctx: Context, callback: Callable[[], object]) -> None:
    """Call back the caller; what it raises stops the batch (e.g. a lost leader lease)."""
    try:
        callback()
    except BaseException as exc:
        ctx.batch.stopped = exc
        raise


def data_version(ctx: Context) -> str | None:
    """The registry's data version, asked once per batch."""
    batch = ctx.batch
    if batch.failure is not None:
        raise batch.failure
    if not batch.asked:
        try:
            batch.data_timestamp = ctx.registry.data_version()
        except TrialwatchError as exc:
            batch.failure = exc
            raise
        batch.asked = True
    return batch.data_timestamp


def note_skipped(run: Run, reasons: list[str]) -> None:
    """Count, on the run's result, records the store was told it could not store."""
    if not reasons:
        return
    run.result.skip(len(reasons), reasons[0])
    log.warning(
        "skipped %d malformed record(s) watchlist=%s run=%d: %s",
        len(reasons),
        run.result.slug,
        run.plan.run_id,
        reasons[0],
    )


def finish(ctx: Context, run: Run) -> None:
    """The run succeeded: the watchlist's cursor and data version move."""
    plan, result = run.plan, run.result
    new_cursor = max(filter(None, [plan.cursor, run.max_seen]), default=None)
    result.requests = requests_so_far(ctx, run)
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


def fail(ctx: Context, run: Run, exc: BaseException) -> SyncResult:
    """Mark the run failed; its result carries the error to report (a page loop names
    the watchlist). The cursor stays where the run found it."""
    slug = run.result.slug
    failure: BaseException = exc
    if isinstance(exc, PageLoop):
        failure = PageLoop(f"sync of watchlist '{slug}' stopped: {exc}")
        failure.__cause__ = exc
    result = run.result
    result.status = "failed"
    result.error = _one_line(failure)
    result.failure = failure if isinstance(failure, TrialwatchError) else None
    result.failure = result.failure or TrialwatchError(result.error)
    result.requests = run.requests
    result.seconds = time.perf_counter() - run.started
    result.cursor = run.plan.cursor.isoformat() if run.plan.cursor else None
    run.done = True
    with session_scope(ctx.factory) as session:
        run_store.fail_run(
            session, run.plan.run_id, now=ctx.now(), error=result.error, requests=run.requests
        )
    # A TrialwatchError is reported by the caller (one line in the CLI); log the rest.
    level = logging.DEBUG if isinstance(failure, TrialwatchError) else logging.ERROR
    log.log(level, "sync failed watchlist=%s run=%d error=%s", slug, run.plan.run_id, result.error)
    return result


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


def _one_line(exc: BaseException) -> str:
    """The run's error column: our own errors as they read, others with their type."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, TrialwatchError):
        return first_line(exc)
    return f"{type(exc).__name__}: {first_line(exc)}" if str(exc).strip() else type(exc).__name__
