"""What a sync run will do, decided before it asks the registry for anything.

A run is **full** when asked, when its watchlist has no cursor yet, when the last
full run is over :data:`FULL_SYNC_EVERY` old, and when the criteria differ from
those of the last successful sync (``watchlist.criteria_hash``): new matches join
and old ones leave at once. Otherwise it is **incremental**: it asks for what was
updated since the cursor (less ``overlap_days``), or lists the whole membership
when that costs no more (:func:`lists_members`).

The IDs a watchlist lists are always watched (:func:`unfiltered_ids`): the
``trialwatch watchlist check`` command and the sync read that rule here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from trialwatch.jobs.records import parse_day
from trialwatch.registries.base import Params, Registry
from trialwatch.store import runs as run_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import session_scope
from trialwatch.watchlists import Criteria

log = logging.getLogger("trialwatch.jobs.sync")

FULL_SYNC_EVERY = timedelta(days=7)
# A watchlist whose listing costs more than an incremental search lists its members
# at least this often; under a day, so that a daily schedule's jitter never skips one.
MEMBERS_LISTED_EVERY = timedelta(hours=20)
LISTING_PAGE_SIZE = 1000  # light records: the largest page a registry serves


def unfiltered_ids(criteria: Criteria) -> tuple[str, ...]:
    """The listed IDs the search may miss, to be asked for again without the filters.

    A listed ID is always watched, whatever the watchlist's filters. The search holds
    the listed IDs already, so only when status, phase or country filters are set can
    it miss one: then every listed ID is asked for by ID, without the filters.
    """
    if criteria.statuses or criteria.phases or criteria.countries:
        return criteria.nct_ids
    return ()


@dataclass(frozen=True)
class Plan:
    """What one run will do, decided before it starts."""

    watchlist_id: int
    run_id: int
    mode: str
    cursor: date | None
    params: Params
    criteria: Criteria
    criteria_hash: str
    updated_since: date | None = None
    synced_timestamp: str | None = None  # the data version the last successful sync saw
    members: int = 0
    recheck_from: date = date.min  # listed studies updated since are fetched even if not moved
    listed_at: datetime | None = None  # when a sync last listed the whole membership
    members_params: Params = field(default_factory=dict)  # the search, no date filter
    members_recheck_from: date = date.min  # recheck_from of a listing of the whole membership


@dataclass(frozen=True)
class _Watchlist:
    """What planning reads of the watchlist and its runs."""

    id: int
    criteria: Criteria
    cursor: date | None
    synced_hash: str | None
    synced_timestamp: str | None
    last_synced: datetime | None
    members: int
    listed_at: datetime | None
    last_full: datetime | None


def begin(
    factory: sessionmaker[Session],
    registry: Registry,
    slug: str,
    *,
    full: bool,
    overlap_days: int,
    api_url: str,
    now: Callable[[], datetime],
) -> Plan:
    """Settle abandoned runs, choose full or incremental, open the run, build the query."""
    wl = _read(factory, slug, now)
    criteria_hash = wl.criteria.criteria_hash()
    stale_full = wl.last_full is None or now() - wl.last_full > FULL_SYNC_EVERY
    edited = wl.synced_hash != criteria_hash
    mode = "full" if full or wl.cursor is None or stale_full or edited else "incremental"
    with session_scope(factory) as session:
        run_id = run_store.start_run(
            session, wl.id, mode=mode, now=now(), api_url=api_url, cursor_before=wl.cursor
        )
    updated_since: date | None = None
    # A study updated again on the day it was fetched keeps its date: a listing of the
    # whole membership rechecks those.
    members_recheck_from = date.min
    if wl.last_synced is not None:
        members_recheck_from = wl.last_synced.date() - timedelta(days=overlap_days)
    recheck_from = members_recheck_from
    if mode == "incremental" and wl.cursor is not None:
        updated_since = wl.cursor - timedelta(days=overlap_days)
        recheck_from = date.min  # everything listed was updated since the cursor
    log.debug(
        "sync started watchlist=%s run=%d mode=%s since=%s criteria_changed=%s",
        slug,
        run_id,
        mode,
        updated_since.isoformat() if updated_since else "-",
        edited,
    )
    return Plan(
        wl.id,
        run_id,
        mode,
        wl.cursor,
        _counted(registry.plan(wl.criteria, updated_since=updated_since)),
        wl.criteria,
        criteria_hash,
        updated_since,
        synced_timestamp=wl.synced_timestamp,
        members=wl.members,
        recheck_from=recheck_from,
        listed_at=wl.listed_at,
        members_params=_counted(registry.plan(wl.criteria)),
        members_recheck_from=members_recheck_from,
    )


def _counted(params: Params) -> Params:
    return params | {"countTotal": "true"}


def _read(factory: sessionmaker[Session], slug: str, now: Callable[[], datetime]) -> _Watchlist:
    """The watchlist as planning needs it; its runs left running by a dead process fail."""
    with session_scope(factory) as session:
        watchlist = watchlist_store.get_watchlist(session, slug)
        abandoned = run_store.abandon_running(session, watchlist.id, now())
        if abandoned:
            log.warning("marked %d abandoned run(s) of %s as failed", abandoned, slug)
        members, _ = watchlist_store.watchlist_counts(session, watchlist.id)
        last_full = run_store.last_full_run(session, watchlist.id)
        return _Watchlist(
            id=watchlist.id,
            criteria=Criteria.from_dict(watchlist.criteria),
            cursor=watchlist.sync_cursor,
            synced_hash=watchlist.criteria_hash,
            synced_timestamp=watchlist.data_timestamp,
            last_synced=watchlist.last_synced_at,
            members=members,
            listed_at=watchlist.members_listed_at,
            last_full=last_full.started_at if last_full is not None else None,
        )


def lists_members(*, members: int, listed_at: datetime | None, now: datetime) -> bool:
    """Whether an incremental sync whose data version moved lists the whole membership.

    A light listing takes ``ceil(members / 1000)`` requests and the incremental search
    (or listing of what was updated) at least one, so up to 1,000 members the listing
    replaces it at no extra request. A larger watchlist lists when its last listing is
    :data:`MEMBERS_LISTED_EVERY` old: departures and the drop alert come from these
    listings, within a day.
    """
    if math.ceil(members / LISTING_PAGE_SIZE) <= 1:
        return True
    return listed_at is None or now - listed_at >= MEMBERS_LISTED_EVERY


def incremental_way(
    plan: Plan, *, single: bool, page_size: int, now: datetime
) -> tuple[bool, bool]:
    """How an incremental sync whose data version moved asks: (lists the whole
    membership, pages full records directly).

    A lone sync would page the updated full records directly (one page): when the
    whole membership fits one page of full records, that page lists it for the same
    requests, and holds every record that moved (nothing to fetch by ID). In a batch,
    the light listing (1,000 a page) replaces the batch's light listing of what was
    updated; what moved is fetched once for the batch.
    """
    if single and math.ceil(plan.members / page_size) <= 1:
        return True, True
    listing = lists_members(members=plan.members, listed_at=plan.listed_at, now=now)
    return listing, single and not listing


def moved(known: tuple[int, str | None] | None, listed: date | None, recheck_from: date) -> bool:
    """Whether a listed study's full record must be fetched."""
    if known is None or listed is None:
        return True
    stored = parse_day(known[1])
    return stored is None or listed > stored or listed >= recheck_from
