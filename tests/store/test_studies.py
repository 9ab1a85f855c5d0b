"""The versioned store: a version only when content changes, membership, history, locks."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, event, func, select

from tests.factories import make_watchlist_and_run
from trialwatch.errors import LockHeld, NotFoundError
from trialwatch.jobs.records import study_row
from trialwatch.registries.ctgov.parse import canonical_json, content_hash
from trialwatch.store import studies as study_store
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import make_engine, make_sessionmaker, session_scope
from trialwatch.store.locks import exclusive_lock
from trialwatch.store.models import Study, StudyVersion, SyncRun, WatchlistStudy
from trialwatch.store.studies import StoreResult

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ctgov"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _record(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text()))


@dataclass
class _Page(StoreResult):
    """What storing a page did, with the studies that joined the watchlist."""

    joined: list[int] = field(default_factory=list)


def _store(engine: Engine, records: list[dict[str, Any]], wl: int, run: int) -> _Page:
    """Store records as the sync job does: prepared rows, then versions and membership."""
    rows = [study_row(r) for r in records]
    with session_scope(make_sessionmaker(engine)) as session:
        page = _Page(**vars(study_store.store_versions(session, rows, run_id=run, now=NOW)))
        page.joined = study_store.touch_membership(session, wl, sorted(page.ids.values()), run, NOW)
        return page


def test_it_stores_a_new_version_only_when_the_content_changes(engine: Engine) -> None:
    """Same record twice: one version; an edited record: a second version with the old one kept."""
    wl, run = make_watchlist_and_run(engine)
    arda = _record("constructed/NCT05225675.json")
    first = _store(engine, [arda, _record("NCT06171568.json")], wl, run)
    assert (first.new, first.updated, first.unchanged) == (2, 0, 0)
    again = _store(engine, [copy.deepcopy(arda)], wl, run)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 1)
    edited = copy.deepcopy(arda)
    edited["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    third = _store(engine, [edited], wl, run)
    assert (third.new, third.updated) == (0, 1)
    assert third.stored[0].old_record == arda
    assert third.stored[0].nct_id == "NCT05225675"
    with session_scope(make_sessionmaker(engine)) as session:
        study = study_store.get_study(session, "NCT05225675")
        versions = study_store.versions_of(session, study.id)
        assert [v.version for v in versions] == [1, 2]
        assert study.current_version == 2
        assert study.overall_status == "COMPLETED"
        assert orjson.loads(versions[0].record) == arda
        assert study_store.current_record(session, study) == edited


def test_the_hash_is_of_the_canonical_record(engine: Engine) -> None:
    """Key order does not matter; the stored text re-hashes to the stored hash."""
    wl, run = make_watchlist_and_run(engine)
    arda = _record("constructed/NCT05225675.json")
    reordered = dict(reversed(list(arda.items())))
    _store(engine, [arda], wl, run)
    assert _store(engine, [reordered], wl, run).unchanged == 1
    with session_scope(make_sessionmaker(engine)) as session:
        version = session.scalars(select(StudyVersion)).one()
        assert version.content_hash == content_hash(version.record.encode())
        assert version.record.encode() == canonical_json(arda)


def test_it_tracks_membership_and_leaving(engine: Engine) -> None:
    """Studies seen join the watchlist; members not seen by a run can be marked left."""
    wl, run = make_watchlist_and_run(engine)
    _store(engine, [_record("NCT06171568.json"), _record("NCT03418623.json")], wl, run)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:
        run2 = SyncRun(watchlist_id=wl, mode="full", status="running", started_at=NOW, api_url="x")
        session.add(run2)
        session.flush()
        run2_id = run2.id
    _store(engine, [_record("NCT06171568.json")], wl, run2_id)
    with session_scope(factory) as session:
        gone = study_store.members_not_seen(session, wl, run2_id)
        assert [nct for _, nct in gone] == ["NCT03418623"]
        study_store.mark_left(session, wl, [sid for sid, _ in gone], NOW)
    with session_scope(factory) as session:
        assert watchlist_store.watchlist_counts(session, wl) == (1, 1)
        left = session.scalars(select(WatchlistStudy).where(WatchlistStudy.left_at.is_not(None)))
        assert len(list(left)) == 1
    # Seen again: it rejoins.
    _store(engine, [_record("NCT03418623.json")], wl, run2_id)
    with session_scope(factory) as session:
        assert watchlist_store.watchlist_counts(session, wl) == (2, 0)


def test_a_failed_page_writes_nothing(engine: Engine) -> None:
    """A record without an NCT ID aborts the page's transaction: no study, no version."""
    wl, run = make_watchlist_and_run(engine)
    broken: dict[str, Any] = {"protocolSection": {"identificationModule": {}}}
    with pytest.raises(Exception, match="nctId"):
        _store(engine, [_record("NCT06171568.json"), broken], wl, run)
    with session_scope(make_sessionmaker(engine)) as session:
        assert session.scalar(select(func.count()).select_from(Study)) == 0
        assert session.scalar(select(func.count()).select_from(StudyVersion)) == 0


def test_unknown_names_are_not_found(engine: Engine) -> None:
    """Unknown slugs and NCT IDs raise NotFoundError listing what exists."""
    make_watchlist_and_run(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        with pytest.raises(NotFoundError, match=r"unknown watchlist 'nope' \(known: mmn\)"):
            watchlist_store.get_watchlist(session, "nope")
        with pytest.raises(NotFoundError, match="NCT00000000"):
            study_store.get_study(session, "NCT00000000")


def test_the_lock_excludes_a_second_holder(engine: Engine) -> None:
    """While one holder has the lock, a second attempt fails at once; afterwards it succeeds."""
    with exclusive_lock(engine, "sync of watchlist 'mmn'"):
        with (
            pytest.raises(LockHeld, match="already running"),
            exclusive_lock(engine, "sync of watchlist 'mmn'"),
        ):
            pass  # pragma: no cover
        with exclusive_lock(engine, "sync of watchlist 'other'"):
            pass
    with exclusive_lock(engine, "sync of watchlist 'mmn'"):
        pass


def _interloper(engine: Engine, statement_start: str, store: Callable[[], object]) -> None:
    """Run ``store`` (another writer, committing) just before our first such statement.

    It must be our first write: after it we hold locks the other writer would wait for.
    """
    fired: list[bool] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not fired and statement.startswith(statement_start):
            fired.append(True)
            store()


@pytest.mark.timeout(30)  # a regression could wait on its own locks
def test_a_study_stored_by_a_concurrent_writer_first_is_read_back_not_duplicated(
    engine: Engine, database_url: str
) -> None:
    """Another watchlist's writer commits the same studies mid-page: no error, one version each."""
    wl, run = make_watchlist_and_run(engine)
    wl2, run2 = make_watchlist_and_run(engine, "mmn2")
    records = [_record("constructed/NCT05225675.json"), _record("NCT06171568.json")]
    other = make_engine(database_url)
    try:
        _interloper(
            engine, "INSERT INTO study ", lambda: _store(other, copy.deepcopy(records), wl2, run2)
        )
        mine = _store(engine, records, wl, run)
    finally:
        other.dispose()
    assert (mine.new, mine.updated, mine.unchanged, mine.stored) == (0, 0, 2, [])
    assert sorted(mine.joined) == sorted(mine.ids.values())
    with session_scope(make_sessionmaker(engine)) as session:
        assert session.scalar(select(func.count()).select_from(Study)) == 2
        assert session.scalar(select(func.count()).select_from(StudyVersion)) == 2
        assert session.scalar(select(func.count()).select_from(WatchlistStudy)) == 4


@pytest.mark.timeout(30)  # a regression could wait on its own locks
def test_a_version_number_taken_by_a_concurrent_writer_is_left_to_it(
    engine: Engine, database_url: str
) -> None:
    """Both writers saw version 1 and store an edit: the one that took version 2 keeps it."""
    wl, run = make_watchlist_and_run(engine)
    wl2, run2 = make_watchlist_and_run(engine, "mmn2")
    arda = _record("constructed/NCT05225675.json")
    _store(engine, [arda], wl, run)
    _store(engine, [copy.deepcopy(arda)], wl2, run2)
    edited = copy.deepcopy(arda)
    edited["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    other = make_engine(database_url)
    try:
        _interloper(
            engine,
            "INSERT INTO study_version ",
            lambda: _store(other, [copy.deepcopy(edited)], wl2, run2),
        )
        mine = _store(engine, [edited], wl, run)
    finally:
        other.dispose()
    assert (mine.new, mine.updated, mine.unchanged, mine.stored) == (0, 0, 1, [])
    with session_scope(make_sessionmaker(engine)) as session:
        study = study_store.get_study(session, "NCT05225675")
        assert [v.version for v in study_store.versions_of(session, study.id)] == [1, 2]
        assert (study.current_version, study.overall_status) == (2, "COMPLETED")
