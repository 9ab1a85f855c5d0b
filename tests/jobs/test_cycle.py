"""The cycle syncs its due watchlists as one batch: /version once, a shared study fetched once.

Real HTTP against the fake API on loopback (its request log says what was asked), on
both databases.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support.fakeapi import FakeCtgov
from trialwatch.clock import utcnow
from trialwatch.config import Settings
from trialwatch.errors import LostLeadership
from trialwatch.jobs.cycle import run_cycle
from trialwatch.jobs.runner import Jobs
from trialwatch.services import watchlist_files
from trialwatch.store import studies as study_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.watchlists import Criteria, WatchlistSpec

MMN = "multifocal motor neuropathy"
SHARED = "NCT06742190"  # recruiting, MMN: in all three watchlists
WATCHLISTS = {
    "mmn": Criteria(conditions=(MMN,)),
    "recruiting": Criteria(conditions=(MMN,), statuses=("RECRUITING",)),
    "listed": Criteria(nct_ids=(SHARED, "NCT05225675")),
}


@pytest.fixture
def jobs(engine: Engine, database_url: str, fake: FakeCtgov, tmp_path: Path) -> Jobs:
    specs = [
        WatchlistSpec(slug=slug, name=slug.title(), criteria=criteria)
        for slug, criteria in WATCHLISTS.items()
    ]
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, specs, utcnow())
    settings = Settings(
        database_url=database_url,
        api_url=fake.base_url,
        requests_per_minute=0,
        max_attempts=1,
        mail=f"file:{tmp_path / 'outbox'}",
        state_dir=tmp_path,
    )
    return Jobs(settings, engine)


def _full_fetches(fake: FakeCtgov) -> list[dict[str, str]]:
    """The GET /studies requests that downloaded full records (no ``fields=``)."""
    return [p for path, p in fake.requests if path == "/api/v2/studies" and "fields" not in p]


def _edited(record: dict[str, Any], day: str) -> dict[str, Any]:
    changed = copy.deepcopy(record)
    status_module = changed["protocolSection"]["statusModule"]
    status_module["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    status_module["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
    return changed


def test_overlapping_watchlists_in_one_cycle_fetch_a_shared_study_once(
    engine: Engine, fake: FakeCtgov, jobs: Jobs
) -> None:
    """First cycle: each study downloaded once; after one shared study moves, the next
    cycle lists all three watchlists and downloads that study once, in one request."""
    first = run_cycle(jobs)

    assert first.ok, first.errors or first.failed
    assert sorted(first.synced) == sorted(WATCHLISTS)
    assert [path for path, _ in fake.requests].count("/api/v2/version") == 1
    # 'listed' comes first and pages its full records directly (nothing to compare with);
    # the others list light and fetch only what it did not: each study downloaded once.
    asked = [p["filter.ids"].split(",") for p in _full_fetches(fake)]
    assert asked == [[SHARED, "NCT05225675"], ["NCT06537999"]]
    with session_scope(make_sessionmaker(engine)) as session:
        members = {
            slug: watchlist_store.watchlist_counts(
                session, watchlist_store.get_watchlist(session, slug).id
            )[0]
            for slug in WATCHLISTS
        }
    assert members == {"mmn": 3, "recruiting": 2, "listed": 2}

    fake.put(_edited(fake.get(SHARED), "2026-11-30"))  # the registry publishes: its stamp moves
    fake.reset_requests()
    second = run_cycle(jobs)

    assert sorted(second.synced) == sorted(WATCHLISTS)
    paths = [path for path, _ in fake.requests]
    assert paths.count("/api/v2/version") == 1
    listings = [p for path, p in fake.requests if path == "/api/v2/studies" and "fields" in p]
    assert len(listings) == len(WATCHLISTS)
    [fetch] = _full_fetches(fake)
    assert fetch["filter.ids"] == SHARED
    assert len(fake.requests) == 1 + len(WATCHLISTS) + 1
    with session_scope(make_sessionmaker(engine)) as session:
        study = study_store.get_study(session, SHARED)
        assert len(study_store.versions_of(session, study.id)) == 2


def test_a_cycle_whose_data_timestamp_stands_still_asks_only_version(
    fake: FakeCtgov, jobs: Jobs
) -> None:
    """A forced cycle with nothing published: one /version request for every watchlist."""
    run_cycle(jobs)
    fake.reset_requests()
    result = run_cycle(jobs, force=True)

    assert sorted(result.synced) == sorted(WATCHLISTS)
    assert fake.requests == [("/api/v2/version", {})]


def test_a_lost_lease_stops_the_batch(fake: FakeCtgov, jobs: Jobs) -> None:
    """Losing the leader lease mid-batch raises, and no later watchlist is synced."""
    calls = iter([True, True, False])
    with pytest.raises(LostLeadership):
        run_cycle(jobs, still_leader=lambda: next(calls, False))
    assert [path for path, _ in fake.requests].count("/api/v2/studies") == 1
