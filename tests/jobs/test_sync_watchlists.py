"""The sync job stays true to the watchlist files: criteria edits, listed NCT IDs, failures
of one watchlist among several. Real HTTP (the fake API on loopback), both databases."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.support.cli import ROOT, run_cli
from tests.support.fakeapi import FakeCtgov
from trialwatch.clock import utcnow
from trialwatch.errors import RegistryUnavailable
from trialwatch.jobs.sync import sync_watchlist
from trialwatch.registries.ctgov.client import CtgovClient
from trialwatch.registries.ctgov.registry import CtgovRegistry
from trialwatch.services import watchlist_files
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Study, SyncRun, Watchlist, WatchlistStudy
from trialwatch.watchlists import Criteria, WatchlistSpec

MMN_IDS = {"NCT05225675", "NCT06537999", "NCT06742190"}
RECRUITING_MMN = {"NCT06537999", "NCT06742190"}
CIDP_ID = "NCT09990001"

MMN_FILE = """
slug = "mmn"
name = "Multifocal motor neuropathy"

[criteria]
conditions = ["multifocal motor neuropathy"]
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "watchlists"
    path.mkdir()
    return path


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    fake: FakeCtgov,
    tmp_path: Path,
    folder: Path,
) -> None:
    """In-process CLI runs against the fake API, the test database and a watchlist folder."""
    env = {
        "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
        "TRIALWATCH_DATABASE_URL": database_url,
        "TRIALWATCH_API_URL": fake.base_url,
        "TRIALWATCH_REQUESTS_PER_MINUTE": "0",
        "TRIALWATCH_LOG_FORMAT": "text",
        "TRIALWATCH_WATCHLISTS_DIR": str(folder),
        "TRIALWATCH_MAX_ATTEMPTS": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)


def _cidp_record(fake: FakeCtgov) -> dict[str, Any]:
    """A study of CIDP only, last updated long before any cursor."""
    record = copy.deepcopy(fake.get("NCT05225675"))
    protocol = record["protocolSection"]
    protocol["identificationModule"]["nctId"] = CIDP_ID
    protocol["identificationModule"]["briefTitle"] = "A trial in CIDP"
    protocol["identificationModule"].pop("nctIdAliases", None)
    protocol["conditionsModule"] = {
        "conditions": ["Chronic Inflammatory Demyelinating Polyneuropathy"]
    }
    protocol["statusModule"]["lastUpdatePostDateStruct"] = {"date": "2020-01-15", "type": "ACTUAL"}
    record.pop("derivedSection", None)
    return record


def _members(engine: Engine, slug: str) -> set[str]:
    with session_scope(make_sessionmaker(engine)) as session:
        rows = session.execute(
            select(Study.nct_id)
            .join(WatchlistStudy, WatchlistStudy.study_id == Study.id)
            .join(Watchlist, Watchlist.id == WatchlistStudy.watchlist_id)
            .where(Watchlist.slug == slug, WatchlistStudy.left_at.is_(None))
        )
        return {nct for (nct,) in rows}


def _watchlist(engine: Engine, slug: str) -> Watchlist:
    with session_scope(make_sessionmaker(engine)) as session:
        row = watchlist_store.get_watchlist(session, slug)
        session.expunge(row)
        return row


def _add(engine: Engine, slug: str, criteria: Criteria) -> None:
    with session_scope(make_sessionmaker(engine)) as session:
        spec = WatchlistSpec(slug=slug, name=slug.upper(), criteria=criteria)
        watchlist_files.save(session, [spec], utcnow())


def _registry(fake: FakeCtgov) -> CtgovRegistry:
    return CtgovRegistry(CtgovClient(fake.base_url, requests_per_minute=0, max_attempts=1))


# -- criteria edits ------------------------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_an_edited_criterion_makes_the_next_sync_full_so_matches_join_and_leave_at_once(
    capsys: pytest.CaptureFixture[str], fake: FakeCtgov, engine: Engine, folder: Path
) -> None:
    """After init sees new criteria, the next sync is full: the new match joins, old ones leave."""
    (folder / "mmn.toml").write_text(MMN_FILE, encoding="utf-8")
    fake.put(_cidp_record(fake))
    assert run_cli(capsys, "init")[0] == 0
    code, out, err = run_cli(capsys, "sync", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["mode"] == "full"
    code, out, err = run_cli(capsys, "sync", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["mode"] == "incremental"
    assert _members(engine, "mmn") == MMN_IDS

    edited = MMN_FILE.replace(
        '"multifocal motor neuropathy"', '"chronic inflammatory demyelinating polyneuropathy"'
    )
    (folder / "mmn.toml").write_text(edited, encoding="utf-8")
    code, out, err = run_cli(capsys, "init")
    assert code == 0, err
    assert "mmn: updated (criteria)" in out
    code, out, err = run_cli(capsys, "sync", "--json")
    assert code == 0, err
    [result] = json.loads(out)
    assert (result["mode"], result["new"], result["left"]) == ("full", 1, 3)
    assert _members(engine, "mmn") == {CIDP_ID}

    code, out, err = run_cli(capsys, "sync", "--json")
    assert json.loads(out)[0]["mode"] == "incremental"


def test_a_successful_sync_records_the_criteria_hash_and_data_timestamp(
    engine: Engine, fake: FakeCtgov
) -> None:
    """Success stores the run's criteria hash and dataTimestamp; a failure leaves both."""
    criteria = Criteria(conditions=("multifocal motor neuropathy",))
    _add(engine, "mmn", criteria)
    before = _watchlist(engine, "mmn")
    assert (before.criteria_hash, before.data_timestamp) == (None, None)
    with _registry(fake) as registry:
        result = sync_watchlist(engine, registry, "mmn")
        assert result.mode == "full"
        synced = _watchlist(engine, "mmn")
        assert synced.criteria_hash == criteria.criteria_hash()
        assert synced.data_timestamp == fake.data_timestamp == result.data_timestamp

        fake.data_timestamp = "2026-11-29T09:00:00"
        fake.fail_next(503, times=3, path_prefix="/studies")
        with pytest.raises(RegistryUnavailable):
            sync_watchlist(engine, registry, "mmn")
    failed = _watchlist(engine, "mmn")
    assert failed.criteria_hash == criteria.criteria_hash()
    assert failed.data_timestamp == "2026-11-28T09:00:04"


def test_a_watchlist_synced_before_criteria_hashes_existed_gets_one_full_sync(
    engine: Engine, fake: FakeCtgov
) -> None:
    """No stored hash (older databases): the next sync is full, then incremental again."""
    _add(engine, "mmn", Criteria(conditions=("multifocal motor neuropathy",)))
    with _registry(fake) as registry:
        sync_watchlist(engine, registry, "mmn")
        with session_scope(make_sessionmaker(engine)) as session:
            watchlist_store.get_watchlist(session, "mmn").criteria_hash = None
        assert sync_watchlist(engine, registry, "mmn").mode == "full"
        assert sync_watchlist(engine, registry, "mmn").mode == "incremental"


# -- listed NCT IDs are always watched -----------------------------------------------------


def test_a_listed_nct_id_is_watched_whatever_the_filters_say(
    engine: Engine, fake: FakeCtgov
) -> None:
    """Listed IDs outside the status filter (and the condition) are members; none leave."""
    criteria = Criteria(
        conditions=("multifocal motor neuropathy",),
        statuses=("RECRUITING",),
        nct_ids=("NCT05225675", "NCT02513394"),
    )
    _add(engine, "mmn", criteria)
    expected = RECRUITING_MMN | {"NCT05225675", "NCT02513394"}
    with _registry(fake) as registry:
        first = sync_watchlist(engine, registry, "mmn")
        assert _members(engine, "mmn") == expected
        assert (first.new, first.seen) == (4, 4)
        again = sync_watchlist(engine, registry, "mmn", full=True)
    assert (again.left, again.unchanged, again.seen) == (0, 4, 4)
    assert _members(engine, "mmn") == expected


def test_a_listed_nct_id_alone_ignores_the_filters(engine: Engine, fake: FakeCtgov) -> None:
    """A watchlist of NCT IDs with a status filter still watches a withdrawn listed study."""
    _add(engine, "ids", Criteria(nct_ids=("NCT00973089",), statuses=("RECRUITING",)))
    with _registry(fake) as registry:
        result = sync_watchlist(engine, registry, "ids")
    assert result.new == 1
    assert _members(engine, "ids") == {"NCT00973089"}


def test_listed_ids_cost_a_request_only_when_filters_could_hide_them(
    engine: Engine, fake: FakeCtgov
) -> None:
    """Without filters the one search finds the listed IDs; with filters, one more request."""
    _add(engine, "plain", Criteria(conditions=("rosacea",), nct_ids=("NCT02513394",)))
    _add(
        engine,
        "filtered",
        Criteria(conditions=("rosacea",), nct_ids=("NCT02513394",), phases=("PHASE2",)),
    )
    with _registry(fake) as registry:
        fake.reset_requests()
        plain = sync_watchlist(engine, registry, "plain")
        assert [path for path, _ in fake.requests].count("/api/v2/studies") == 1
        fake.reset_requests()
        filtered = sync_watchlist(engine, registry, "filtered")
        studies = [params for path, params in fake.requests if path == "/api/v2/studies"]
    assert len(studies) == 2
    assert studies[1]["filter.ids"] == "NCT02513394"
    assert "filter.advanced" not in studies[1]
    both = {"NCT03064438", "NCT02513394"}
    assert _members(engine, "plain") == _members(engine, "filtered") == both
    assert (plain.seen, filtered.seen) == (2, 2)


def test_an_incremental_sync_asks_for_listed_ids_updated_since_the_cursor(
    engine: Engine, fake: FakeCtgov
) -> None:
    """The listed-ID query of an incremental sync is narrowed like the search: not at all
    when the sync lists the whole membership (up to 1,000 members, each time)."""
    criteria = Criteria(conditions=("rosacea",), nct_ids=("NCT02513394",), phases=("PHASE2",))
    _add(engine, "filtered", criteria)
    with _registry(fake) as registry:
        sync_watchlist(engine, registry, "filtered")
        fake.reset_requests()
        fake.data_timestamp = "2026-11-29T09:00:04"
        result = sync_watchlist(engine, registry, "filtered")
    assert result.mode == "incremental"
    listed = [p for path, p in fake.requests if path == "/api/v2/studies" and "filter.ids" in p]
    assert len(listed) == 1
    assert "AREA[LastUpdatePostDate]" not in listed[0].get("filter.advanced", "")


# -- one failure does not stop the others --------------------------------------------------

BROKEN_FILE = """
slug = "broken"
name = "Broken"

[criteria]
terms = ["AREA[NoSuchArea]anything"]
"""


@pytest.mark.usefixtures("cli_env")
def test_sync_of_several_watchlists_syncs_the_others_and_names_the_failing_one(
    capsys: pytest.CaptureFixture[str], engine: Engine, folder: Path
) -> None:
    """'broken' fails first; mmn is still synced; exit 1 with one line naming 'broken'."""
    (folder / "broken.toml").write_text(BROKEN_FILE, encoding="utf-8")
    (folder / "mmn.toml").write_text(MMN_FILE, encoding="utf-8")
    assert run_cli(capsys, "init")[0] == 0
    code, out, err = run_cli(capsys, "sync")
    assert code == 1
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("error: ")
    assert "'broken'" in line
    assert "NoSuchArea" in line
    assert "mmn" in out
    assert _members(engine, "mmn") == MMN_IDS
    with session_scope(make_sessionmaker(engine)) as session:
        statuses = {
            slug: status
            for slug, status in session.execute(
                select(Watchlist.slug, SyncRun.status).join(
                    SyncRun, SyncRun.watchlist_id == Watchlist.id
                )
            )
        }
    assert statuses == {"broken": "failed", "mmn": "succeeded"}


@pytest.mark.usefixtures("cli_env")
def test_sync_json_lists_every_watchlist_with_the_failed_ones_and_their_error(
    capsys: pytest.CaptureFixture[str], folder: Path
) -> None:
    """--json prints one entry per watchlist, the failed one with status and error."""
    (folder / "broken.toml").write_text(BROKEN_FILE, encoding="utf-8")
    (folder / "mmn.toml").write_text(MMN_FILE, encoding="utf-8")
    assert run_cli(capsys, "init")[0] == 0
    code, out, err = run_cli(capsys, "sync", "--json")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    broken, mmn = json.loads(out)
    assert (broken["watchlist"], broken["status"]) == ("broken", "failed")
    assert "NoSuchArea" in broken["error"]
    assert broken["run_id"] is not None
    assert broken["mode"] == "full"
    assert (mmn["watchlist"], mmn["status"], mmn["new"]) == ("mmn", "succeeded", 3)


@pytest.mark.usefixtures("cli_env")
def test_several_failures_are_named_in_one_line(
    capsys: pytest.CaptureFixture[str], fake: FakeCtgov, folder: Path
) -> None:
    """Two watchlists failing: one line naming both, exit 1."""
    (folder / "broken.toml").write_text(BROKEN_FILE, encoding="utf-8")
    (folder / "mmn.toml").write_text(MMN_FILE, encoding="utf-8")
    assert run_cli(capsys, "init")[0] == 0
    fake.fail_next(503, times=10, path_prefix="/studies")
    code, _, err = run_cli(capsys, "sync")
    assert code == 1
    [line] = err.strip().splitlines()
    assert line.startswith("error: 2 of 2 watchlists failed: ")
    assert "broken: " in line
    assert "mmn: " in line
