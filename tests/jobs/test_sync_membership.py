"""Membership listings: departures and the zero / half-drop alert within a day, without a
weekly full sync (the request counts are in test_sync_requests.py).

Real HTTP against the fake API on loopback (its request log says what was asked), on
both databases.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from tests.factories import SENDER
from tests.support.cli import ROOT
from tests.support.fakeapi import FakeCtgov
from trialwatch.jobs.health import check_health
from trialwatch.jobs.sync import SyncResult, lists_members, sync_watchlist
from trialwatch.mail.templates import make_environment
from trialwatch.registries.ctgov.client import CtgovClient
from trialwatch.registries.ctgov.registry import CtgovRegistry
from trialwatch.services import watchlist_files
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Change, SyncRun, Watchlist
from trialwatch.watchlists import Criteria, WatchlistSpec, load_watchlists

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
MMN_IDS = ("NCT05225675", "NCT06537999", "NCT06742190")
LIGHT = "NCTId,LastUpdatePostDate"


def _init(engine: Engine) -> None:
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, load_watchlists(ROOT / "config" / "watchlists"), T0)


def _sync(engine: Engine, fake: FakeCtgov, at: datetime, slug: str = "mmn") -> SyncResult:
    client = CtgovClient(fake.base_url, requests_per_minute=0, max_attempts=1)
    with CtgovRegistry(client) as registry:
        return sync_watchlist(engine, registry, slug, now=lambda: at)


def _studies_requests(fake: FakeCtgov) -> list[dict[str, str]]:
    return [params for path, params in fake.requests if path == "/api/v2/studies"]


def _listed_at(engine: Engine, slug: str = "mmn") -> datetime | None:
    with session_scope(make_sessionmaker(engine)) as session:
        return (
            session.scalars(select(Watchlist).where(Watchlist.slug == slug)).one().members_listed_at
        )


def test_matches_falling_to_zero_are_noticed_by_the_next_incremental_sync(
    engine: Engine, fake: FakeCtgov
) -> None:
    """Every study gone an hour after a full sync: the next (incremental) sync lists the
    membership, records the departures, and the health check raises the zero-drop alert."""
    _init(engine)
    assert _sync(engine, fake, T0).mode == "full"
    for nct in MMN_IDS:
        fake.remove(nct)

    later = T0 + timedelta(hours=1)
    result = _sync(engine, fake, later)

    assert (result.mode, result.status) == ("incremental", "succeeded")
    assert (result.seen, result.left, result.removed) == (0, 3, 3)
    with session_scope(make_sessionmaker(engine)) as session:
        kinds = list(
            session.scalars(select(Change.kind).where(Change.sync_run_id == result.run_id))
        )
        assert kinds == ["removed_from_registry"] * 3
        run = session.get_one(SyncRun, result.run_id)
        assert (run.listed, run.left) == (0, 3)
    assert _listed_at(engine) == later
    health = check_health(
        engine,
        make_environment(),
        admins=["ops@trialwatch.example"],
        sender=SENDER,
        stale_after=timedelta(hours=48),
        now=later,
    )
    assert health.started == ["matches_dropped:mmn"]


def test_the_listing_decision_lists_when_it_costs_no_more_else_once_a_day() -> None:
    """ceil(N/1000) pages cost no more than the incremental search when N <= 1000;
    a larger watchlist lists when its last listing is older than a day."""
    now = T0
    assert lists_members(members=0, listed_at=now, now=now)
    assert lists_members(members=1000, listed_at=now, now=now)
    assert not lists_members(members=1001, listed_at=now - timedelta(hours=3), now=now)
    assert lists_members(members=1001, listed_at=None, now=now)
    assert lists_members(members=5000, listed_at=now - timedelta(hours=21), now=now)


def _bulk(record: dict[str, Any], count: int) -> list[dict[str, Any]]:
    copies = []
    for number in range(count):
        item = copy.deepcopy(record)
        item["protocolSection"]["identificationModule"]["nctId"] = f"NCT9{number:07d}"
        item["protocolSection"]["identificationModule"].pop("acronym", None)
        copies.append(item)
    return copies


def test_a_watchlist_of_over_a_thousand_lists_its_members_once_a_day(
    engine: Engine, fake: FakeCtgov
) -> None:
    """1,001 members: a listing costs two pages, more than the incremental search, so
    within a day of the last listing the sync searches what was updated; after a day it
    lists again and records departures."""
    base = fake.get(MMN_IDS[0])
    for record in _bulk(base, 1001):
        fake.put(record)
    spec = WatchlistSpec(slug="big", name="Big", criteria=Criteria(interventions=("ARGX-117",)))
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, [spec], T0)
    first = _sync(engine, fake, T0, "big")
    assert first.new > 1001
    fake.remove("NCT90000000")
    fake.reset_requests()

    soon = _sync(engine, fake, T0 + timedelta(hours=2), "big")
    [search] = _studies_requests(fake)
    assert "fields" not in search
    assert first.cursor is not None
    since = date.fromisoformat(first.cursor) - timedelta(days=1)  # a day of overlap
    assert f"AREA[LastUpdatePostDate]RANGE[{since.isoformat()},MAX]" in search["filter.advanced"]
    assert (soon.mode, soon.left) == ("incremental", 0)

    fake.data_timestamp = "2026-11-30T09:00:00"
    day = _sync(engine, fake, T0 + timedelta(hours=22), "big")
    assert (day.mode, day.seen, day.left, day.removed) == ("incremental", first.new - 1, 1, 1)
    assert _listed_at(engine, "big") == T0 + timedelta(hours=22)
