"""What the exports read: current versions with their provenance, changes, streamed."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from tests.factories import make_watchlist_and_run
from trialwatch.jobs import records
from trialwatch.store import changes as change_store
from trialwatch.store import exports as export_store
from trialwatch.store import studies as study_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Study, StudyVersion, SyncRun

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ctgov"
T1 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
T2 = T1 + timedelta(days=1)
STAMP1, STAMP2 = "2026-11-27T09:03:11", "2026-11-28T09:05:40"


def _record(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text(encoding="utf-8")))


def _run(session: Session, watchlist_id: int, stamp: str | None, now: datetime) -> int:
    run = SyncRun(
        watchlist_id=watchlist_id,
        mode="full",
        status="running",
        started_at=now,
        api_url="x",
        data_timestamp=stamp,
    )
    session.add(run)
    session.flush()
    return run.id


def _edited(record: dict[str, Any]) -> dict[str, Any]:
    """BIOSS completed, posted a day later."""
    edited = copy.deepcopy(record)
    status = edited["protocolSection"]["statusModule"]
    status["overallStatus"] = "COMPLETED"
    status["lastUpdatePostDateStruct"] = {"date": "2026-11-27", "type": "ACTUAL"}
    return edited


@pytest.fixture
def stored(engine: Engine) -> dict[str, Any]:
    """Two watchlists: mmn has two studies, cidp one of them; BIOSS is then edited by mmn."""
    mmn, _ = make_watchlist_and_run(engine, "mmn")
    cidp, _ = make_watchlist_and_run(engine, "cidp")
    bioss, cf = _record("NCT03475563.json"), _record("NCT00763412.json")
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:
        run1 = _run(session, mmn, STAMP1, T1)
        records.store_records(session, [bioss, cf], watchlist_id=mmn, run_id=run1, now=T1)
        run_cidp = _run(session, cidp, STAMP1, T1)
        records.store_records(session, [bioss], watchlist_id=cidp, run_id=run_cidp, now=T1)
    with session_scope(factory) as session:
        run2 = _run(session, mmn, STAMP2, T2)
        records.store_records(session, [_edited(bioss)], watchlist_id=mmn, run_id=run2, now=T2)
    return {"mmn": mmn, "cidp": cidp, "bioss": bioss}


def _studies(engine: Engine, watchlist_id: int | None = None, **kw: Any) -> list[Any]:
    with session_scope(make_sessionmaker(engine)) as session:
        return list(export_store.iter_studies(session, watchlist_id, **kw))


def test_each_study_comes_with_its_current_version_and_provenance(
    engine: Engine, stored: dict[str, Any]
) -> None:
    """Version, hash and fetch time of the stored row; data timestamp of the run that stored it."""
    cf, bioss = _studies(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        rows = {
            (nct, v.version): v
            for nct, v in session.execute(
                select(Study.nct_id, StudyVersion).join(Study, Study.id == StudyVersion.study_id)
            ).tuples()
        }
    assert cf.record["protocolSection"]["identificationModule"]["nctId"] == "NCT00763412"
    assert (cf.version, cf.data_timestamp, cf.watchlists) == (1, STAMP1, ("mmn",))
    assert cf.content_hash == rows["NCT00763412", 1].content_hash
    assert cf.fetched_at == T1
    assert bioss.record == _edited(stored["bioss"])
    assert (bioss.version, bioss.data_timestamp, bioss.watchlists) == (2, STAMP2, ("cidp", "mmn"))
    assert bioss.content_hash == rows["NCT03475563", 2].content_hash
    assert bioss.content_hash != rows["NCT03475563", 1].content_hash
    assert bioss.fetched_at == T2


def test_a_watchlist_export_leaves_out_studies_that_left_unless_asked(
    engine: Engine, stored: dict[str, Any]
) -> None:
    """--include-left brings them back; a study's watchlists are those it is a member of now."""
    with session_scope(make_sessionmaker(engine)) as session:
        cf = study_store.get_study(session, "NCT00763412")
        study_store.mark_left(session, stored["mmn"], [cf.id], T2)
    [only] = _studies(engine, stored["mmn"])
    assert only.record["protocolSection"]["identificationModule"]["nctId"] == "NCT03475563"
    assert [s.watchlists for s in _studies(engine, stored["mmn"], include_left=True)] == [
        (),
        ("cidp", "mmn"),
    ]
    assert [s.version for s in _studies(engine, stored["cidp"])] == [2]
    assert len(_studies(engine)) == 2


def test_a_version_whose_run_is_gone_has_no_data_timestamp(
    engine: Engine, stored: dict[str, Any]
) -> None:
    """The run of a version may be deleted (sync_run_id set NULL): the study is still exported."""
    with session_scope(make_sessionmaker(engine)) as session:
        session.execute(update(StudyVersion).values(sync_run_id=None))
    assert [(s.version, s.data_timestamp) for s in _studies(engine)] == [(1, None), (2, None)]


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"significance": "all"},
        {"significance": "major"},
        {"significance": "all", "limit": 2},
        {"significance": "all", "since": T2},
        {"significance": "all", "watchlist": "cidp"},
        {"significance": "all", "watchlist": "mmn", "since": T1},
    ],
)
def test_changes_are_those_the_listing_shows_in_its_order(
    engine: Engine, stored: dict[str, Any], filters: dict[str, Any]
) -> None:
    """iter_changes selects and orders as list_changes does, for every filter."""
    args = dict(filters)
    if "watchlist" in args:
        args["watchlist_id"] = stored[args.pop("watchlist")]
    with session_scope(make_sessionmaker(engine)) as session:
        listed = change_store.list_changes(session, **{"limit": None, **args})
        streamed = list(export_store.iter_changes(session, **args))
    assert streamed
    key = ("detected_at", "nct_id", "kind", "field", "summary", "version", "watchlist")
    assert [tuple(getattr(c, k) for k in key) for c in streamed] == [
        tuple(getattr(c, k) for k in key) for c in listed
    ]
    assert [(c.old, c.new, c.countries, c.title) for c in streamed] == [
        (c.old, c.new, c.countries, c.title) for c in listed
    ]


def test_a_change_carries_the_posted_date_of_its_version(
    engine: Engine, stored: dict[str, Any]
) -> None:
    """The status change of version 2 was posted 2026-11-27; new_study rows have version 1's."""
    with session_scope(make_sessionmaker(engine)) as session:
        changes = list(export_store.iter_changes(session, significance="all"))
    status = next(c for c in changes if c.kind == "overall_status")
    assert (status.nct_id, status.version, status.posted) == ("NCT03475563", 2, "2026-11-27")
    assert status.significance == "major"
    assert (status.old, status.new) == ("UNKNOWN", "COMPLETED")
    new = {(c.nct_id, c.watchlist, c.version, c.posted) for c in changes if c.kind == "new_study"}
    assert new == {
        ("NCT03475563", "mmn", 1, "2019-11-27"),
        ("NCT03475563", "cidp", 1, "2019-11-27"),
        ("NCT00763412", "mmn", 1, "2017-06-05"),
    }


def test_studies_are_streamed_a_batch_at_a_time(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading 300 studies holds a batch of records at a time, not all 300."""
    import tracemalloc

    wl, run = make_watchlist_and_run(engine)
    base = _record("NCT03475563.json")
    page = []
    for i in range(300):
        record = copy.deepcopy(base)
        record["protocolSection"]["identificationModule"]["nctId"] = f"NCT{10000000 + i:08d}"
        page.append(record)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:
        records.store_records(session, page, watchlist_id=wl, run_id=run, now=T1)
    monkeypatch.setattr(export_store, "BATCH", 10)

    def peak(read: Any) -> int:
        with session_scope(factory) as session:
            tracemalloc.start()
            try:
                read(session)
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    streamed = peak(lambda s: sum(1 for _ in export_store.iter_studies(s)))
    held = peak(lambda s: len(list(export_store.iter_studies(s))))
    assert streamed * 5 < held, (streamed, held)
