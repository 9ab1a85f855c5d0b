"""A watchlist as CTIS searches: their union is its membership, found on the loopback fake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fakectis import FakeCtis
from trialwatch.registries.ctis.client import CtisClient
from trialwatch.registries.ctis.query import (
    build_searches,
    ct_numbers,
    in_countries,
    status_codes,
)
from trialwatch.registries.ctis.summary import summarise
from trialwatch.watchlists import Criteria

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ctis"
RECORD = "ctrdata-demo_CTIS_2023-505613-24-00_imported-2026-03-08.json"


def test_each_condition_drug_and_term_is_its_own_search_with_the_status_filter() -> None:
    """Any of conditions, interventions, terms: one search each, each with the statuses."""
    criteria = Criteria(
        conditions=("multifocal motor neuropathy",),
        interventions=("ARGX-117", "empasiprubart"),
        terms=("  anti-C2   antibody ",),
        statuses=("RECRUITING", "NOT_YET_RECRUITING"),
    )
    assert build_searches(criteria) == [
        {"medicalCondition": "multifocal motor neuropathy", "status": [1, 2, 3, 4]},
        {"containAll": "ARGX-117", "status": [1, 2, 3, 4]},
        {"containAll": "empasiprubart", "status": [1, 2, 3, 4]},
        {"containAll": "anti-C2 antibody", "status": [1, 2, 3, 4]},
    ]


def test_always_watched_eu_ct_numbers_are_searched_by_number_without_filters() -> None:
    """EU CT numbers among the watched IDs are searched one by one; NCT IDs are not CTIS's."""
    criteria = Criteria(conditions=("MMN",), statuses=("COMPLETED",))
    ids = ["NCT05225675", "EU CT 2024-510663-34-00", "2024-510663-34-00"]
    assert build_searches(criteria, ids=ids) == [
        {"medicalCondition": "MMN", "status": [8]},
        {"number": "2024-510663-34-00"},
    ]
    assert ct_numbers(["2009-011277-33"]) == []  # an EudraCT number is no CTIS number


def test_statuses_ctis_never_gives_leave_no_topical_search() -> None:
    """A watchlist of expanded-access statuses matches nothing in CTIS: no search is sent."""
    assert status_codes(["AVAILABLE"]) == []
    assert build_searches(Criteria(conditions=("MMN",), statuses=("AVAILABLE",))) == []


def test_countries_filter_the_retrieved_trials() -> None:
    """Countries have no verified search key: the trial's own countries decide."""
    trial = summarise(json.loads((FIXTURES / RECORD).read_text()))
    assert in_countries(trial, [])
    assert in_countries(trial, [trial.countries[0].upper()])
    assert not in_countries(trial, ["Japan"])


@pytest.fixture
def fake() -> Iterator[FakeCtis]:
    with FakeCtis() as server:
        server.put(json.loads((FIXTURES / RECORD).read_text()))
        yield server


def test_the_searches_find_the_recorded_trial_on_the_fake(fake: FakeCtis) -> None:
    """Searched by a word of its condition, or by its number, the recorded trial is found."""
    record = json.loads((FIXTURES / RECORD).read_text())
    condition = record["authorizedApplication"]["authorizedPartI"]["medicalConditions"][0]
    word = condition["medicalCondition"].split()[0]
    with CtisClient(fake.base_url, requests_per_minute=0) as client:
        for search in build_searches(
            Criteria(conditions=(word,), statuses=("RECRUITING",)),
            ids=["2023-505613-24-00"],
        ):
            found = [r["ctNumber"] for r in client.iter_search(search)]
            assert found == ["2023-505613-24-00"], search
