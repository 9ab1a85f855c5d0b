"""The health conditions, each evaluated now from the store: whether it holds.

What each says is worded in :mod:`trialwatch.words.health`; which conditions there
are, and when they start and clear, is told in :mod:`trialwatch.jobs.health`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from trialwatch.mail.templates import one_line
from trialwatch.store import health as health_store
from trialwatch.store import outbox
from trialwatch.store.models import HealthAlert, SyncRun, Watchlist
from trialwatch.words import health as words

OUTBOX_KEY = "outbox_failed"
REFUSED_KEY = words.REFUSED_KEY


@dataclass(frozen=True)
class Condition:
    """One condition as evaluated now: whether it holds, and what to say either way."""

    key: str
    kind: str
    watchlist_id: int | None
    holds: bool
    title: str
    detail: str


def evaluate(
    session: Session,
    existing: dict[str, HealthAlert],
    *,
    stale_after: timedelta,
    now: datetime,
    failed_threshold: int,
    failed_window: timedelta,
) -> list[Condition]:
    """Every condition the store holds the answer to (not the clock's: the cycle's)."""
    watchlists = health_store.enabled_watchlists(session)
    conditions = [
        condition
        for watchlist in watchlists
        for condition in _watchlist_conditions(session, watchlist, existing, stale_after, now)
    ]
    conditions.append(_drift(session, watchlists))
    conditions.append(_outbox(session, failed_threshold, failed_window, now))
    # Messages wait (or failed) because the mail server refused TrialWatch itself (at
    # MAIL FROM, or every recipient of a pass alike; see jobs.delivery): nobody is
    # bounced for it, so an admin must hear.
    count, error = outbox.sender_refusals(session)
    answer = one_line((error or "").removeprefix(outbox.SENDER_REFUSED)) if count else None
    conditions.append(
        installation_wide(REFUSED_KEY, bool(count), words.mail_refused(count, answer))
    )
    return conditions


def clock_condition(notes: Sequence[str]) -> Condition:
    """Holds in the cycle that clamped timestamps written by a clock that was ahead."""
    return installation_wide("clock", bool(notes), words.clock(notes))


def installation_wide(key: str, holds: bool, detail: str) -> Condition:
    """A condition of the whole installation, not of one watchlist: its key is its kind."""
    return Condition(
        key=key, kind=key, watchlist_id=None, holds=holds, title=words.title(key), detail=detail
    )


def unchecked(row: HealthAlert) -> Condition:
    """An active alert no condition is evaluated for any more (its watchlist was disabled)."""
    slug = row.key.partition(":")[2]
    return Condition(
        key=row.key,
        kind=row.kind,
        watchlist_id=row.watchlist_id,
        holds=False,
        title=words.title(row.kind, slug),
        detail=words.unchecked(slug),
    )


# --- per watchlist --------------------------------------------------------------------------


def _watchlist_conditions(
    session: Session,
    watchlist: Watchlist,
    existing: dict[str, HealthAlert],
    stale_after: timedelta,
    now: datetime,
) -> list[Condition]:
    dropped = existing.get(f"matches_dropped:{watchlist.slug}")
    return [
        _stale(session, watchlist, stale_after, now),
        _dropped(session, watchlist, dropped if dropped is not None and dropped.active else None),
        *_records(session, watchlist),
    ]


def _of(watchlist: Watchlist, kind: str, holds: bool, detail: str) -> Condition:
    return Condition(
        key=f"{kind}:{watchlist.slug}",
        kind=kind,
        watchlist_id=watchlist.id,
        holds=holds,
        title=words.title(kind, watchlist.slug),
        detail=detail,
    )


def _name(watchlist: Watchlist) -> str:
    return words.watchlist(one_line(watchlist.name), watchlist.slug)


def _stale(
    session: Session, watchlist: Watchlist, stale_after: timedelta, now: datetime
) -> Condition:
    last = health_store.succeeded_runs(session, watchlist.id, limit=1)
    since = min((last[0].finished_at if last else None) or watchlist.created_at, now)
    age = now - since  # a time in the future counts as now: the alert is never blind
    holds = age > stale_after
    detail = words.stale(
        _name(watchlist), holds=holds, synced=bool(last), since=since, age=age, limit=stale_after
    )
    return _of(watchlist, "stale", holds, detail)


def _fell(before: int, after: int) -> bool:
    """Zero, or a fall by more than half."""
    return before > 0 and (after == 0 or 2 * after < before)


def _listing(run: SyncRun | None) -> words.Listing | None:
    """The members a listing run found (``seen`` for full runs from before ``listed``)."""
    if run is None:
        return None
    listed = run.listed if run.listed is not None else run.seen
    return words.Listing(run.id, run.finished_at or run.started_at, listed)


def _dropped(session: Session, watchlist: Watchlist, active: HealthAlert | None) -> Condition:
    runs = health_store.succeeded_runs(session, watchlist.id, listing=True, limit=2)
    newest = _listing(runs[0] if runs else None)
    if active is not None:
        # The reference is the listing before the one that raised the alert.
        pair = health_store.succeeded_runs(
            session, watchlist.id, listing=True, finished_by=active.started_at, limit=2
        )
        reference_run = pair[1] if len(pair) == 2 else None
    else:
        reference_run = runs[1] if len(runs) == 2 else None
    if reference_run is not None and reference_run.started_at < watchlist.updated_at:
        reference_run = None  # edited since: the criteria may have been narrowed on purpose
    reference = _listing(reference_run)
    holds = newest is not None and reference is not None and _fell(reference.listed, newest.listed)
    detail = words.dropped(_name(watchlist), newest=newest, reference=reference, holds=holds)
    return _of(watchlist, "matches_dropped", holds, detail)


def _records(session: Session, watchlist: Watchlist) -> list[Condition]:
    """Skipped records and unknown sections of the runs since the newest full run."""
    full = health_store.succeeded_runs(session, watchlist.id, mode="full", limit=1)
    window = (
        health_store.succeeded_runs(session, watchlist.id, started_since=full[0].started_at)
        if full
        else []
    )
    skipped = sum(r.skipped for r in window)
    reason = next((r.skip_reason for r in window if r.skip_reason), None)
    sections = sorted({one_line(s) or "(blank)" for r in window for s in r.unknown_sections or ()})
    name = _name(watchlist)
    return [
        _of(watchlist, "skipped", skipped > 0, words.skipped(name, skipped, one_line(reason))),
        _of(
            watchlist,
            "unknown_sections",
            bool(sections),
            words.unknown_sections(name, sections),
        ),
    ]


# --- the installation -----------------------------------------------------------------------


def _drift(session: Session, watchlists: Sequence[Watchlist]) -> Condition:
    """Fields of another JSON type than the spec's, met by the runs since each watchlist's
    newest full run: one alert for the registry, naming each field and type."""
    found: dict[str, set[str]] = {}  # what drifted -> the watchlists that met it
    records = 0
    for watchlist in watchlists:
        full = health_store.succeeded_runs(session, watchlist.id, mode="full", limit=1)
        if not full:
            continue
        for run in health_store.succeeded_runs(
            session, watchlist.id, started_since=full[0].started_at
        ):
            records += run.drifted
            for name in run.drift or ():
                found.setdefault(one_line(name) or "(blank)", set()).add(watchlist.slug)
    return installation_wide("drift", bool(found), words.drift(records, found))


def _outbox(session: Session, threshold: int, window: timedelta, now: datetime) -> Condition:
    """Digest or confirmation messages failed in the window (alerts are not counted)."""
    failed = health_store.failed_messages_since(session, now - window)
    bounced = outbox.bounced_since(session, now - window)
    detail = words.outbox_failed(failed, threshold, window, bounced)
    return Condition(
        key=OUTBOX_KEY,
        kind="outbox_failed",
        watchlist_id=None,
        holds=failed >= threshold,
        title=words.title("outbox_failed"),
        detail=detail,
    )
