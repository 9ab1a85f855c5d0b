"""Export rows: each column read from real records, provenance, CSV cells that round-trip."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from trialwatch.errors import ConfigError
from trialwatch.registries.ctgov.summary import summarise
from trialwatch.services.exports import (
    CHANGE_COLUMNS,
    JSON_CELLS,
    STUDY_COLUMNS,
    change_row,
    choose_columns,
    csv_cells,
    pick,
    study_row,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ctgov"
FETCHED = datetime(2026, 11, 29, 6, 0, 12, tzinfo=UTC)


@dataclass(frozen=True)
class _Provenance:
    version: int = 3
    content_hash: str = "ab" * 32
    fetched_at: datetime = FETCHED
    data_timestamp: str | None = "2026-11-28T09:12:44"
    watchlists: tuple[str, ...] = ("mmn", "cidp")


def _record(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return dict(data["studies"][0] if "studies" in data else data)


def _row(name: str, **provenance: Any) -> dict[str, Any]:
    return study_row(summarise(_record(name)), _Provenance(**provenance))


def test_a_completed_study_with_results_has_its_posted_dates_and_people() -> None:
    """NCT00763412 (COMPLETED, results posted): every new column, exactly."""
    row = _row("NCT00763412.json")
    assert list(row) == list(STUDY_COLUMNS)
    expected = {
        "nct_id": "NCT00763412",
        "title": "Pilot and Feasibility Study for the Treatment of Pre-diabetes"
        " in Patients With Cystic Fibrosis",
        "acronym": None,
        "status": "COMPLETED",
        "last_known_status": None,
        "why_stopped": None,
        "study_type": "INTERVENTIONAL",
        "phases": ["NA"],
        "conditions": ["Cystic Fibrosis Related Diabetes", "Pancreatic Insufficiency"],
        "interventions": ["placebo", "repaglinide"],
        "sponsor": "Arbelaez, Ana Maria",
        "collaborators": [
            "Washington University School of Medicine",
            "National Institutes of Health (NIH)",
            "Novo Nordisk A/S",
            "National Institute of Diabetes and Digestive and Kidney Diseases (NIDDK)",
        ],
        "enrollment": 31,
        "enrollment_type": "ACTUAL",
        # An old record: the start date has no type.
        "start_date": "2006-11",
        "start_date_type": None,
        "primary_completion_date": "2013-01",
        "primary_completion_date_type": "ACTUAL",
        "completion_date": "2013-01",
        "completion_date_type": "ACTUAL",
        "first_posted": "2008-10-01",
        "results_first_posted": "2017-06-05",
    }
    assert {k: row[k] for k in expected} == expected
    assert row["last_update_posted"] == "2017-06-05"
    assert row["has_results"] is True
    assert (row["min_age"], row["max_age"], row["sex"]) == ("12 Years", "24 Years", "ALL")
    assert (row["site_count"], row["countries"]) == (1, ["United States"])
    assert row["url"] == "https://clinicaltrials.gov/study/NCT00763412"


def test_a_study_of_unknown_status_has_its_last_known_status_and_estimated_dates() -> None:
    """NCT03475563 (UNKNOWN, last known RECRUITING, observational): dates ACTUAL / ESTIMATED."""
    row = _row("NCT03475563.json")
    assert (row["status"], row["last_known_status"]) == ("UNKNOWN", "RECRUITING")
    assert row["study_type"] == "OBSERVATIONAL"
    assert row["phases"] == []
    assert (row["start_date"], row["start_date_type"]) == ("2018-08-16", "ACTUAL")
    assert (row["primary_completion_date"], row["primary_completion_date_type"]) == (
        "2019-12-30",
        "ESTIMATED",
    )
    assert (row["completion_date"], row["completion_date_type"]) == ("2019-12-30", "ESTIMATED")
    assert (row["first_posted"], row["results_first_posted"]) == ("2018-03-23", None)
    assert row["has_results"] is False
    assert (row["min_age"], row["max_age"]) == ("18 Years", None)
    # Three sites in one country: counted three times, named once.
    assert (row["site_count"], row["countries"]) == (3, ["Spain"])
    assert row["sponsor"] == "Hospital Universitari Vall d'Hebron Research Institute"
    assert row["collaborators"] == []


def test_a_withdrawn_study_says_why_it_stopped() -> None:
    """NCT00973089 (WITHDRAWN): whyStopped as the registry wrote it."""
    row = _row("NCT00973089.json")
    assert row["status"] == "WITHDRAWN"
    assert row["why_stopped"] == (
        "recruiting or enrolling participants has halted prematurely and will not resume"
    )
    assert (row["enrollment"], row["enrollment_type"]) == (0, "ACTUAL")


def test_sex_is_the_registry_code() -> None:
    """NCT06388018 enrols women only: FEMALE."""
    assert _row("studies-response-NCT06388018.json")["sex"] == "FEMALE"


def test_provenance_columns_are_the_stored_versions() -> None:
    """version, hash, fetched at (ISO 8601, UTC), data timestamp; watchlist slugs sorted."""
    row = _row("NCT06171568.json", version=7, data_timestamp=None)
    assert {k: row[k] for k in ("watchlists", *STUDY_COLUMNS[-4:])} == {
        "watchlists": ["cidp", "mmn"],
        "version": 7,
        "content_hash": "ab" * 32,
        "fetched_at": "2026-11-29T06:00:12+00:00",
        "data_timestamp": None,
    }


def test_a_record_missing_its_modules_gives_empty_cells_not_an_error() -> None:
    """Only the NCT ID: the other columns are None, empty lists, zero sites."""
    row = study_row(
        summarise({"protocolSection": {"identificationModule": {"nctId": "NCT01234567"}}}),
        _Provenance(),
    )
    assert row["title"] == ""
    assert row["phases"] == row["collaborators"] == row["countries"] == []
    assert row["site_count"] == 0
    assert row["start_date_type"] is None
    assert row["has_results"] is False


def _round_trip(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(csv_cells(row))
    return list(csv.DictReader(io.StringIO(buffer.getvalue(), newline="")))


def test_csv_cells_of_lists_round_trip_with_semicolons_commas_and_quotes() -> None:
    """A list cell is a JSON array: json.loads of what csv.DictReader reads gives it back."""
    record = _record("NCT03475563.json")
    sites = record["protocolSection"]["contactsLocationsModule"]["locations"]
    sites[0]["country"] = 'Leiden; "site 2", NL'
    sites[1]["country"] = "Paris"
    record["protocolSection"]["conditionsModule"]["conditions"] = [
        "Disease; type 1",
        'The "MMN", variant',
        "line\nbreak",
        "naïve",
    ]
    row = study_row(summarise(record), _Provenance(watchlists=()))
    (back,) = _round_trip([row])
    assert json.loads(back["countries"]) == ['Leiden; "site 2", NL', "Paris", "Spain"]
    assert json.loads(back["conditions"]) == row["conditions"]
    assert json.loads(back["watchlists"]) == []
    assert back["phases"] == "[]"
    assert back["has_results"] == "false"
    assert back["acronym"] == "BIOSS"
    assert back["why_stopped"] == ""
    assert back["site_count"] == "3"
    for column in JSON_CELLS & set(row):
        assert json.loads(back[column]) == row[column], column


def test_the_cell_of_a_list_is_compact_json() -> None:
    """["Leiden; site 2","Paris"]: the spelling the README shows."""
    assert csv_cells({"countries": ["Leiden; site 2", "Paris"]}) == {
        "countries": '["Leiden; site 2","Paris"]'
    }
    # A list in a column not declared as JSON is JSON all the same, never "a; b".
    assert csv_cells({"other": ["a; b", "c"], "n": 3, "x": None}) == {
        "other": '["a; b","c"]',
        "n": 3,
        "x": None,
    }


def test_fields_are_chosen_in_the_order_given_once_each() -> None:
    """--fields nct_id,status,countries: those columns in that order; repeats once."""
    assert choose_columns("nct_id, status,countries,status", STUDY_COLUMNS) == (
        "nct_id",
        "status",
        "countries",
    )
    assert choose_columns(None, STUDY_COLUMNS) == STUDY_COLUMNS
    row = _row("NCT00973089.json")
    assert pick(row, ("status", "nct_id")) == {"status": "WITHDRAWN", "nct_id": "NCT00973089"}
    assert list(pick(row, ("status", "nct_id"))) == ["status", "nct_id"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("nct_id,country", "--fields: unknown field 'country' (closest: countries)"),
        ("nct_id,stauts", "--fields: unknown field 'stauts' (closest: status"),
        ("zzz", "--fields: unknown field 'zzz' (fields: nct_id, title, "),
        (" , ", "--fields: name one or more fields of: nct_id, title"),
    ],
)
def test_an_unknown_field_is_named_with_the_closest(fields: str, message: str) -> None:
    """A misspelt column is a ConfigError naming it and what it might have been."""
    with pytest.raises(ConfigError) as caught:
        choose_columns(fields, STUDY_COLUMNS)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@dataclass(frozen=True)
class _Change:
    detected_at: datetime = FETCHED
    nct_id: str = "NCT05225675"
    acronym: str | None = "ARDA"
    title: str = "ARGX-117 in MMN"
    watchlist: str | None = None
    version: int | None = 2
    posted: str | None = "2026-11-27"
    kind: str = "site_added"
    significance: str = "major"
    field: str = "protocolSection.contactsLocationsModule.locations"
    summary: str = "New site: Leiden; Paris"
    old: Any = None
    new: Any = None
    countries: tuple[str, ...] = ("Netherlands", "France")


def test_a_change_row_has_every_column_and_its_values_round_trip_in_csv() -> None:
    """old/new of any shape and the countries are JSON cells; None reads back as null."""
    site = {"facility": 'UMC "Leiden", site 2', "city": "Leiden; NL"}
    change = _Change(new=site)
    row = change_row(change)
    assert list(row) == list(CHANGE_COLUMNS)
    assert row["detected_at"] == "2026-11-29T06:00:12+00:00"
    assert (row["version"], row["posted"], row["watchlist"]) == (2, "2026-11-27", None)
    text_change = change_row(dataclasses.replace(change, old="RECRUITING", new="COMPLETED"))
    back = _round_trip([row, text_change])
    assert json.loads(back[0]["new"]) == site
    assert back[0]["old"] == "null"
    assert json.loads(back[0]["countries"]) == ["Netherlands", "France"]
    assert back[0]["summary"] == "New site: Leiden; Paris"
    assert (json.loads(back[1]["old"]), json.loads(back[1]["new"])) == ("RECRUITING", "COMPLETED")
    assert back[0]["watchlist"] == ""
