"""What a sync asks the API for: light full re-syncs, one request when nothing moved.

Real HTTP against the fake API on loopback (its request log says what was asked), on
both databases.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import Engine, func, select

from tests.support.fakeapi import FakeCtgov
from trialwatch.clock import utcnow
from trialwatch.jobs.sync import SyncResult, sync_watchlist, sync_watchlists
from trialwatch.registries.ctgov.client import CtgovClient
from trialwatch.registries.ctgov.registry import CtgovRegistry
from trialwatch.services import watchlist_files
from trialwatch.store import studies as study_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Change, StudyVersion, SyncRun
from trialwatch.watchlists import Criteria, WatchlistSpec

MMN_IDS = ["NCT05225675", "NCT06537999", "NCT06742190"]
LIGHT = "NCTId,LastUpdatePostDate"


def _init(engine: Engine) -> None:
    spec = WatchlistSpec(
        slug="mmn",
        name="MMN",
        criteria=Criteria(conditions=("multifocal motor neuropathy",)),
    )
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, [spec], utcnow())


def _registry(fake: FakeCtgov) -> CtgovRegistry:
    return CtgovRegistry(CtgovClient(fake.base_url, requests_per_minute=0, max_attempts=1))


def _studies_requests(fake: FakeCtgov) -> list[dict[str, str]]:
    return [params for path, params in fake.requests if path == "/api/v2/studies"]


def _versions(engine: Engine, nct_id: str) -> int:
    with session_scope(make_sessionmaker(engine)) as session:
        return len(study_store.versions_of(session, study_store.get_study(session, nct_id).id))


def _count(engine: Engine, model: type[Any]) -> int:
    with session_scope(make_sessionmaker(engine)) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _edited(record: dict[str, Any], *, day: str, status: str = "COMPLETED") -> dict[str, Any]:
    changed = copy.deepcopy(record)
    status_module = changed["protocolSection"]["statusModule"]
    status_module["overallStatus"] = status
    status_module["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
    return changed


# -- light full re-syncs -----------------------------------------------------------------


def test_a_no_change_full_resync_downloads_no_full_record(engine: Engine, fake: FakeCtgov) -> None:
    """A full re-sync of unchanged studies asks /version and fields= pages only."""
    _init(engine)
    with _registry(fake) as registry:
        first = sync_watchlist(engine, registry, "mmn")
        fake.reset_requests()
        again = sync_watchlist(engine, registry, "mmn", full=True)

    assert (first.mode, first.new) == ("full", 3)
    assert [path for path, _ in fake.requests] == ["/api/v2/version", "/api/v2/studies"]
    [listing] = _studies_requests(fake)
    assert listing["fields"] == LIGHT
    assert listing["pageSize"] == "1000"
    assert listing["query.cond"] == '"multifocal motor neuropathy"'
    assert (again.mode, again.status, again.requests) == ("full", "succeeded", 2)
    assert (again.seen, again.new, again.updated, again.unchanged, again.left) == (3, 0, 0, 3, 0)
    assert again.fetched == 0
    assert _count(engine, StudyVersion) == 3


def test_a_study_whose_update_date_moved_is_fetched_in_full_and_versioned(
    engine: Engine, fake: FakeCtgov
) -> None:
    """Of three listed studies only the one whose LastUpdatePostDate moved is downloaded."""
    _init(engine)
    with _registry(fake) as registry:
        sync_watchlist(engine, registry, "mmn")
        fake.put(_edited(fake.get("NCT06537999"), day="2026-11-27"))
        fake.reset_requests()
        result = sync_watchlist(engine, registry, "mmn", full=True)

    listing, fetch = _studies_requests(fake)
    assert listing["fields"] == LIGHT
    assert "fields" not in fetch
    assert fetch["filter.ids"] == "NCT06537999"
    assert (result.new, result.updated, result.unchanged, result.fetched) == (0, 1, 2, 1)
    assert result.cursor == "2026-11-27"
    assert [_versions(engine, nct) for nct in MMN_IDS] == [1, 2, 1]
    with session_scope(make_sessionmaker(engine)) as session:
        kinds = set(session.scalars(select(Change.kind).where(Change.sync_run_id == result.run_id)))
    assert "overall_status" in kinds


def test_a_study_updated_again_the_day_it_was_fetched_is_fetched_again(
    engine: Engine, fake: FakeCtgov
) -> None:
    """The date has day granularity: a study dated within the overlap of the last sync is
    re-fetched even though its date did not move, and its second edit is stored."""
    _init(engine)
    today = utcnow().date().isoformat()
    fake.put(_edited(fake.get("NCT05225675"), day=today, status="RECRUITING"))
    with _registry(fake) as registry:
        sync_watchlist(engine, registry, "mmn")
        fake.put(_edited(fake.get("NCT05225675"), day=today, status="SUSPENDED"))
        fake.reset_requests()
        result = sync_watchlist(engine, registry, "mmn", full=True)

    fetched = [p["filter.ids"] for p in _studies_requests(fake) if "fields" not in p]
    assert fetched == ["NCT05225675"]
    assert (result.updated, result.unchanged) == (1, 2)
    assert _versions(engine, "NCT05225675") == 2


def test_a_light_full_resync_still_settles_studies_that_left(
    engine: Engine, fake: FakeCtgov
) -> None:
    """A member the listing no longer holds is checked by ID and marked left or removed."""
    _init(engine)
    with _registry(fake) as registry:
        sync_watchlist(engine, registry, "mmn")
        record = fake.get("NCT06742190")
        record["protocolSection"]["conditionsModule"] = {"conditions": ["CIDP"]}
        record.pop("derivedSection", None)
        fake.put(record)
        fake.remove("NCT06537999")
        result = sync_watchlist(engine, registry, "mmn", full=True)

    assert (result.seen, result.unchanged, result.left, result.removed) == (1, 1, 2, 1)


# -- nothing new, one request ------------------------------------------------------------


def test_an_incremental_sync_makes_one_request_when_the_data_timestamp_stands_still(
    engine: Engine, fake: FakeCtgov
) -> None:
    """Same dataTimestamp, same criteria: /version alone, nothing stored, the run counted."""
    _init(engine)
    with _registry(fake) as registry:
        sync_watchlist(engine, registry, "mmn")
        versions, changes = _count(engine, StudyVersion), _count(engine, Change)
        fake.reset_requests()
        result = sync_watchlist(engine, registry, "mmn")

    assert fake.requests == [("/api/v2/version", {})]
    assert (result.mode, result.status, result.requests, result.seen) == (
        "incremental",
        "succeeded",
        1,
        0,
    )
    assert (_count(engine, StudyVersion), _count(engine, Change)) == (versions, changes)
    with session_scope(make_sessionmaker(engine)) as session:
        run = session.get_one(SyncRun, result.run_id)
        assert (run.status, run.requests, run.data_timestamp) == (
            "succeeded",
            1,
            fake.data_timestamp,
        )


def test_a_moved_data_timestamp_lists_the_membership_at_no_extra_request(
    engine: Engine, fake: FakeCtgov
) -> None:
    """N <= 1,000 members, synced alone, and the registry published: the one page of the
    incremental search becomes one page of every member's full record (no date filter),
    /version + 1 as before, and it lists the membership (the search with a day of
    overlap is for larger watchlists: test_sync_membership.py)."""
    _init(engine)
    with _registry(fake) as registry:
        sync_watchlist(engine, registry, "mmn")
        fake.data_timestamp = "2026-11-29T09:00:04"
        fake.reset_requests()
        result = sync_watchlist(engine, registry, "mmn")

    [search] = _studies_requests(fake)
    assert "fields" not in search
    assert "AREA[LastUpdatePostDate]" not in search.get("filter.advanced", "")
    assert (result.mode, result.requests, result.seen, result.unchanged) == (
        "incremental",
        2,
        3,
        3,
    )
    with session_scope(make_sessionmaker(engine)) as session:
        assert session.get_one(SyncRun, result.run_id).listed == 3


def test_a_member_that_moved_is_stored_from_that_one_page(engine: Engine, fake: FakeCtgov) -> None:
    """The membership page holds the moved member's full record: /version + 1 request."""
    _init(engine)
    with _registry(fake) as registry:
        sync_watchlist(engine, registry, "mmn")
        fake.put(_edited(fake.get("NCT06537999"), day="2026-11-28"))
        fake.reset_requests()
        result = sync_watchlist(engine, registry, "mmn")

    [search] = _studies_requests(fake)
    assert "fields" not in search
    assert (result.mode, result.requests) == ("incremental", 2)
    assert (result.updated, result.unchanged, result.left, result.cursor) == (
        1,
        2,
        0,
        "2026-11-28",
    )


def test_a_batch_lists_each_membership_light_and_fetches_what_moved_once(
    engine: Engine, fake: FakeCtgov
) -> None:
    """Two watchlists as one batch: one light listing page each, no date filter (as many
    requests as the listings of what was updated they replace), then one fetch by ID."""
    _init(engine)
    other = WatchlistSpec(
        slug="argx", name="ARGX-117", criteria=Criteria(interventions=("ARGX-117",))
    )
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, [other], utcnow())
    with _registry(fake) as registry:
        sync_watchlists(engine, registry, ["mmn", "argx"])
        fake.put(_edited(fake.get("NCT05225675"), day="2026-11-28"))
        fake.reset_requests()
        results = sync_watchlists(engine, registry, ["mmn", "argx"])

    listings = [p for p in _studies_requests(fake) if "fields" in p]
    fetches = [p for p in _studies_requests(fake) if "fields" not in p]
    assert [p["fields"] for p in listings] == [LIGHT, LIGHT]
    assert not any("AREA[LastUpdatePostDate]" in p.get("filter.advanced", "") for p in listings)
    assert [p["filter.ids"] for p in fetches] == ["NCT05225675"]
    assert len(fake.requests) == 1 + 2 + 1
    assert all(isinstance(r, SyncResult) and r.mode == "incremental" for r in results)


def test_edited_criteria_are_synced_even_when_the_data_timestamp_stands_still(
    engine: Engine, fake: FakeCtgov
) -> None:
    """A criteria change makes the next sync full, whatever the registry's timestamp."""
    _init(engine)
    with _registry(fake) as registry:
        sync_watchlist(engine, registry, "mmn")
        spec = WatchlistSpec(
            slug="mmn",
            name="MMN",
            criteria=Criteria(
                conditions=("multifocal motor neuropathy",), statuses=("RECRUITING",)
            ),
        )
        with session_scope(make_sessionmaker(engine)) as session:
            watchlist_files.save(session, [spec], utcnow())
        fake.reset_requests()
        result = sync_watchlist(engine, registry, "mmn")

    assert result.mode == "full"
    assert len(_studies_requests(fake)) >= 1
    assert result.left == 1


def test_a_watchlist_named_twice_in_a_batch_is_synced_once(engine: Engine, fake: FakeCtgov) -> None:
    """sync_watchlists answers for each slug given; a repeated one is one run."""
    _init(engine)
    with _registry(fake) as registry:
        first, again = sync_watchlists(engine, registry, ["mmn", "mmn"])

    assert first is again
    assert isinstance(first, SyncResult)
    assert (first.status, first.new) == ("succeeded", 3)
    assert _count(engine, SyncRun) == 1
