"""`trialwatch export`: the researchers' columns, provenance, --fields, lists that round-trip."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.cli import ROOT, assert_one_line_error, run_cli, run_ok
from tests.support.fakeapi import FakeCtgov
from trialwatch.services.exports import STUDY_COLUMNS
from trialwatch.store.db import make_engine
from trialwatch.store.models import Study, StudyVersion, SyncRun

RESEARCH = """slug = "research"
name = "Research sample"
schedule = "0 6 * * *"

[criteria]
nct_ids = ["NCT00763412", "NCT03475563", "NCT00973089", "NCT05225675"]
"""
TRICKY = ['Leiden; "site 2", NL', "Paris, 75010", "naïve\nline"]


@pytest.fixture
def synced(
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shipped mmn watchlist and a research one sharing ARDA (NCT05225675), both synced."""
    folder = tmp_path / "watchlists"
    folder.mkdir()
    (folder / "mmn.toml").write_bytes((ROOT / "config" / "watchlists" / "mmn.toml").read_bytes())
    (folder / "research.toml").write_text(RESEARCH, encoding="utf-8")
    empty = RESEARCH.replace("research", "empty").replace("Research sample", "Nothing")
    (folder / "empty.toml").write_text(
        empty.split("nct_ids")[0] + 'nct_ids = ["NCT09999999"]\n', encoding="utf-8"
    )
    monkeypatch.setenv("TRIALWATCH_WATCHLISTS_DIR", str(folder))
    assert run_cli(capsys, "init")[0] == 0
    assert run_cli(capsys, "sync")[0] == 0


def _csv(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, dict[str, str]]:
    rows = csv.DictReader(io.StringIO(run_ok(capsys, "export", *args), newline=""))
    return {row["nct_id"]: row for row in rows}


def _provenance(database_url: str) -> dict[str, tuple[int, str, str, str | None]]:
    """(version, hash, fetched at, data timestamp) of each current version, from the rows."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    Study.registry_id,
                    StudyVersion.version,
                    StudyVersion.content_hash,
                    StudyVersion.fetched_at,
                    SyncRun.data_timestamp,
                )
                .join(Study, Study.id == StudyVersion.study_id)
                .join(SyncRun, SyncRun.id == StudyVersion.sync_run_id)
                .where(StudyVersion.version == Study.current_version)
            ).tuples()
            return {nct: (v, h, f.isoformat(), d) for nct, v, h, f, d in rows}
    finally:
        engine.dispose()


@pytest.mark.usefixtures("synced")
def test_csv_has_the_new_columns_with_the_registrys_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Completed with results, unknown status, withdrawn: exact cells; lists are JSON arrays."""
    rows = _csv(capsys, "--watchlist", "research")
    assert sorted(rows) == ["NCT00763412", "NCT00973089", "NCT03475563", "NCT05225675"]
    assert list(rows["NCT00763412"]) == list(STUDY_COLUMNS)
    completed = rows["NCT00763412"]
    assert {k: completed[k] for k in ("status", "study_type", "has_results", "sex")} == {
        "status": "COMPLETED",
        "study_type": "INTERVENTIONAL",
        "has_results": "true",
        "sex": "ALL",
    }
    assert (completed["first_posted"], completed["results_first_posted"]) == (
        "2008-10-01",
        "2017-06-05",
    )
    assert (completed["start_date"], completed["start_date_type"]) == ("2006-11", "")
    assert completed["primary_completion_date_type"] == "ACTUAL"
    assert (completed["min_age"], completed["max_age"], completed["site_count"]) == (
        "12 Years",
        "24 Years",
        "1",
    )
    assert json.loads(completed["collaborators"])[2] == "Novo Nordisk A/S"
    assert completed["collaborators"].startswith('["Washington University School of Medicine",')
    unknown = rows["NCT03475563"]
    assert (unknown["status"], unknown["last_known_status"]) == ("UNKNOWN", "RECRUITING")
    assert [unknown[f"{d}_type"] for d in ("start_date", "primary_completion_date")] == [
        "ACTUAL",
        "ESTIMATED",
    ]
    assert (unknown["results_first_posted"], unknown["has_results"]) == ("", "false")
    assert (unknown["site_count"], unknown["countries"]) == ("3", '["Spain"]')
    withdrawn = rows["NCT00973089"]
    assert withdrawn["why_stopped"].startswith("recruiting or enrolling participants has halted")
    assert (withdrawn["phases"], withdrawn["countries"]) == ('["NA"]', '["Israel"]')


@pytest.mark.usefixtures("synced")
def test_provenance_and_watchlists_match_the_stored_versions(
    capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    """version, content_hash, fetched_at, data_timestamp as stored; each study's watchlists."""
    rows = _csv(capsys)
    stored = _provenance(database_url)
    assert set(rows) == set(stored)
    for nct_id, (version, content_hash, fetched_at, data_timestamp) in stored.items():
        row = rows[nct_id]
        assert (row["version"], row["content_hash"]) == (str(version), content_hash)
        assert (row["fetched_at"], row["data_timestamp"]) == (fetched_at, data_timestamp)
        assert data_timestamp
    assert json.loads(rows["NCT05225675"]["watchlists"]) == ["mmn", "research"]
    assert json.loads(rows["NCT00763412"]["watchlists"]) == ["research"]
    assert json.loads(rows["NCT06742190"]["watchlists"]) == ["mmn"]


@pytest.mark.usefixtures("synced")
def test_a_new_version_is_exported_with_its_own_provenance(
    capsys: pytest.CaptureFixture[str], fake: FakeCtgov, database_url: str
) -> None:
    """After an update the row carries version 2, its hash and the later run's timestamp."""
    before = _csv(capsys, "-w", "research")["NCT03475563"]
    record = copy.deepcopy(fake.get("NCT03475563"))
    status = record["protocolSection"]["statusModule"]
    status["overallStatus"] = "COMPLETED"
    status["lastUpdatePostDateStruct"] = {"date": "2026-11-27", "type": "ACTUAL"}
    fake.put(record)
    assert run_cli(capsys, "sync", "research")[0] == 0
    after = _csv(capsys, "-w", "research")["NCT03475563"]
    version, content_hash, _, data_timestamp = _provenance(database_url)["NCT03475563"]
    assert (before["version"], after["version"]) == ("1", "2") == ("1", str(version))
    assert after["content_hash"] == content_hash != before["content_hash"]
    assert after["data_timestamp"] == data_timestamp != before["data_timestamp"]
    assert (after["status"], after["last_update_posted"]) == ("COMPLETED", "2026-11-27")
    history = json.loads(run_ok(capsys, "history", "NCT03475563", "--json"))
    assert history["versions"][-1]["content_hash"] == after["content_hash"]


@pytest.mark.usefixtures("synced")
def test_lists_with_semicolons_commas_and_quotes_round_trip_in_csv_and_stay_lists_in_json(
    capsys: pytest.CaptureFixture[str], fake: FakeCtgov, tmp_path: Path
) -> None:
    """csv.DictReader then json.loads gives the registry's list back; JSON keeps it a list."""
    record = copy.deepcopy(fake.get("NCT00763412"))
    record["protocolSection"]["conditionsModule"]["conditions"] = TRICKY
    record["protocolSection"]["identificationModule"]["acronym"] = 'A "B"; C, D'
    record["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = "2026-11-27"
    fake.put(record)
    assert run_cli(capsys, "sync", "research")[0] == 0
    target = tmp_path / "studies.csv"
    assert run_ok(capsys, "export", "-w", "research", "-o", str(target)) == ""
    with target.open(encoding="utf-8", newline="") as handle:
        rows = {row["nct_id"]: row for row in csv.DictReader(handle)}
    assert json.loads(rows["NCT00763412"]["conditions"]) == TRICKY
    assert rows["NCT00763412"]["acronym"] == 'A "B"; C, D'
    data = json.loads(run_ok(capsys, "export", "-w", "research", "--format", "json"))
    by_id = {row["nct_id"]: row for row in data}
    assert by_id["NCT00763412"]["conditions"] == TRICKY
    assert by_id["NCT00763412"]["has_results"] is True
    assert by_id["NCT00763412"]["site_count"] == 1
    assert by_id["NCT00763412"]["watchlists"] == ["research"]
    assert list(by_id["NCT00763412"]) == list(STUDY_COLUMNS)
    for column in STUDY_COLUMNS:
        cell = rows["NCT03475563"][column]
        value = by_id["NCT03475563"][column]
        assert cell == _as_cell(value), column


def _as_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


@pytest.mark.usefixtures("synced")
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_fields_choose_the_columns_in_the_order_given(
    capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    """--fields nct_id,status,countries: those columns, that order, in CSV and JSON."""
    out = run_ok(
        capsys, "export", "-w", "research", "-f", fmt, "--fields", "countries,nct_id,status"
    )
    if fmt == "csv":
        lines = out.splitlines()
        assert lines[0] == "countries,nct_id,status"
        assert lines[2] == '"[""Israel""]",NCT00973089,WITHDRAWN'
    else:
        rows = json.loads(out)
        assert [list(r) for r in rows] == [["countries", "nct_id", "status"]] * 4
        assert rows[1] == {"countries": ["Israel"], "nct_id": "NCT00973089", "status": "WITHDRAWN"}


_UNKNOWN_FIELDS = [
    ("nct_id,country", "--fields: unknown field 'country' (closest: countries)"),
    ("nct_id,data_timestmp", "--fields: unknown field 'data_timestmp' (closest: data_timestamp"),
    ("nct_id,zzz", "--fields: unknown field 'zzz' (fields: nct_id, title,"),
]


@pytest.mark.usefixtures("synced")
def test_an_unknown_field_is_one_line_exit_2_and_nothing_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A misspelt column names itself and the closest ones; no file appears."""
    target = tmp_path / "out.csv"
    for fields, fragment in _UNKNOWN_FIELDS:
        result = run_cli(capsys, "export", "--fields", fields, "-o", str(target))
        assert result[1] == "", fields
        assert_one_line_error(result, 2, fragment)
        assert not target.exists(), fields
        assert list(tmp_path.glob(".out.csv.*")) == [], fields


@pytest.mark.usefixtures("synced")
def test_a_watchlist_without_studies_exports_a_header_or_an_empty_array(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No member studies: CSV has its header only, JSON is []."""
    assert (
        run_ok(capsys, "export", "-w", "empty", "--fields", "nct_id,version") == "nct_id,version\n"
    )
    assert json.loads(run_ok(capsys, "export", "-w", "empty", "-f", "json")) == []
