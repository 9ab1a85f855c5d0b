"""CTIS records read: numbers, problems, noise-free hashes, update marks and dates.

The fixtures are real (copied from the shared registry samples, names kept):
ctrdata's stored documents of 2023-505613-24-00 imported 2024-06-23 and 2026-03-08
(a retrieve with the search record laid over it), the trimmed retrieve of
2025-523333-26-00 (trajnovd) and the search record of 2025-523726-40-00 (Gregory).
"""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialwatch.errors import RegistryBadResponse
from trialwatch.registries.ctgov import parse as ctgov_parse
from trialwatch.registries.ctis import parse
from trialwatch.registries.ctis.parse import UpdateMarks

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ctis"
CTRDATA_2024 = "ctrdata-demo_CTIS_2023-505613-24-00_imported-2024-06-23.json"
CTRDATA_2026 = "ctrdata-demo_CTIS_2023-505613-24-00_imported-2026-03-08.json"
TRAJNOVD = "trajnovd_ctis_retrieve_sample_2025-523333-26-00.json"
GREGORY = "gregory_search-record_2025-523726-40-00_captured-2026-07-18.json"
NUMBERS = {
    CTRDATA_2024: "2023-505613-24-00",
    CTRDATA_2026: "2023-505613-24-00",
    TRAJNOVD: "2025-523333-26-00",
    GREGORY: "2025-523726-40-00",
}


def load(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("name", sorted(NUMBERS))
def test_each_recorded_record_names_its_trial_and_can_be_stored(name: str) -> None:
    """The EU CT number is read from every recorded record, and none has a problem."""
    record = load(name)
    assert parse.ct_number_of(record) == NUMBERS[name]
    assert parse.record_problem(record) is None


@pytest.mark.parametrize("record", [{}, {"ctNumber": ""}, {"ctNumber": 2023}, [], "x"])
def test_a_record_without_a_ct_number_is_a_bad_response(record: Any) -> None:
    """No ctNumber (or an empty answer, as CTIS gives for an unknown number) is an error."""
    with pytest.raises(RegistryBadResponse):
        parse.ct_number_of(record)


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ([], "not a JSON object"),
        ({}, "an empty record (no such trial?)"),
        ({"ctStatus": 4}, "no ctNumber"),
        ({"ctNumber": "NCT04665037"}, "ctNumber 'NCT04665037' is not an EU CT number"),
        (
            {"ctNumber": "2023-505613-24-00", "authorizedApplication": []},
            "2023-505613-24-00: authorizedApplication is not an object",
        ),
    ],
)
def test_it_says_why_a_record_cannot_be_stored(record: Any, problem: str) -> None:
    """One short phrase per kind of unfit record."""
    assert parse.record_problem(record) == problem


def test_a_retrieve_is_told_from_a_search_record_and_from_its_overlay() -> None:
    """The overlay is the search's keys and the shared keys in the search's form."""
    assert parse.is_retrieve(load(TRAJNOVD))
    assert not parse.is_retrieve(load(GREGORY))
    assert parse.overlay_keys(load(GREGORY)) == set()
    assert parse.overlay_keys(load(TRAJNOVD)) == set()
    overlaid = parse.overlay_keys(load(CTRDATA_2026))
    assert {"ctStatus", "startDateEU", "decisionDate", "trialRegion", "lastUpdated"} <= overlaid
    assert {"ctPublicStatusCode", "trialRegionCode", "publishDate"}.isdisjoint(overlaid)
    # In 2024 the overlaid record kept the retrieve's ISO start and decision dates.
    assert {"startDateEU", "decisionDate"}.isdisjoint(parse.overlay_keys(load(CTRDATA_2024)))


def test_normalising_drops_overlay_ctrdata_fields_and_noise() -> None:
    """What is left of ctrdata's document is the registry's retrieve, without noise."""
    normal = parse.normalise(load(CTRDATA_2026))
    assert sorted(normal) == [
        "authorizedApplication",
        "correctiveMeasures",
        "ctNumber",
        "ctPublicStatusCode",
        "documents",
        "events",
        "results",
        "trialRegionCode",
    ]
    text = orjson.dumps(normal).decode()
    assert '"id":' not in text
    assert '"trialCategoryId"' not in text
    assert '"mscId":21839' in text  # a stable reference stays
    assert '"uuid":"48fc85da-2ba1-482e-b277-f179748ca31c"' in text  # a document's file


def test_normalising_keeps_the_retrieve_and_leaves_its_input_alone() -> None:
    """The trimmed retrieve loses only publishDate and its ids; normalising twice is once."""
    record = load(TRAJNOVD)
    before = json.dumps(record, sort_keys=True)
    normal = parse.normalise(record)
    assert json.dumps(record, sort_keys=True) == before
    assert "publishDate" not in normal
    assert normal["ctStatus"] == "Under evaluation"
    assert normal["decisionDate"] == "2026-08-07T18:27:53.587"
    points = normal["authorizedApplication"]["authorizedPartI"]["trialDetails"]
    [primary] = points["trialInformation"]["endPoint"]["primaryEndPoints"]
    assert "id" not in primary
    assert primary["number"] == 1
    assert parse.normalise(normal) == normal


def _renumbered(record: Any, rnd: random.Random) -> Any:
    """The record as CTIS may send it again unchanged: new ids, lists in another order."""
    if isinstance(record, dict):
        out: dict[str, Any] = {}
        for key, value in record.items():
            if key in ("id", "trialCategoryId", "trialScopeId") and isinstance(value, int):
                out[key] = rnd.randrange(1, 10**9)
            elif key == "uuid" and "attributeTranslation" in record:
                out[key] = f"{rnd.getrandbits(128):032x}"
            else:
                out[key] = _renumbered(value, rnd)
                if key in parse.UNORDERED_LISTS and isinstance(out[key], list):
                    rnd.shuffle(out[key])
        return out
    if isinstance(record, list):
        return [_renumbered(item, rnd) for item in record]
    return record


_RECORD_2026 = load(CTRDATA_2026)
_HASH_2026 = parse.content_hash(parse.canonical_json(_RECORD_2026))


@settings(max_examples=20, deadline=None)
@given(rnd=st.randoms(use_true_random=False), published=st.datetimes())
def test_noise_leaves_the_hash_alone(rnd: random.Random, published: Any) -> None:
    """Another publishDate, renumbered ids, shuffled sites, documents and applications."""
    again = _renumbered(_RECORD_2026, rnd)
    again["publishDate"] = published.isoformat()
    again["record_last_import"] = published.isoformat()
    assert parse.content_hash(parse.canonical_json(again)) == _HASH_2026


def test_a_real_change_moves_the_hash() -> None:
    """A site's city edited, and the trial two years on, each give another hash."""
    edited = load(CTRDATA_2026)
    site = edited["authorizedApplication"]["authorizedPartsII"][0]["trialSites"][0]
    site["organisationAddressInfo"]["address"]["city"] = "Gand"
    assert parse.content_hash(parse.canonical_json(edited)) != _HASH_2026
    older = parse.content_hash(parse.canonical_json(load(CTRDATA_2024)))
    assert older != _HASH_2026


def test_the_hash_is_the_sha256_of_sorted_compact_json_as_for_ctgov() -> None:
    """Same algorithm as ClinicalTrials.gov's records, over the normalised record."""
    canonical = parse.canonical_json(load(GREGORY))
    assert canonical == orjson.dumps(parse.normalise(load(GREGORY)), option=orjson.OPT_SORT_KEYS)
    assert canonical.startswith(b'{"ageGroup":"18-64 years"')
    assert parse.content_hash(canonical) == ctgov_parse.content_hash(canonical)
    assert len(parse.content_hash(canonical)) == 64


def test_the_update_marks_of_a_search_record() -> None:
    """Gregory's record: both update days, status 4 and each country's own status."""
    assert parse.update_marks(load(GREGORY)) == UpdateMarks(
        last_updated="2026-07-09",
        last_publication_update="2026-07-15",
        status=4,
        countries=(("ES", 4), ("FR", 2), ("IT", 4), ("PL", 3)),
    )


def test_the_update_marks_read_the_2024_and_2026_forms_alike() -> None:
    """Country text with status words (2024) and "Name:code" items (2026) give one form."""
    old, new = parse.update_marks(load(CTRDATA_2024)), parse.update_marks(load(CTRDATA_2026))
    assert old.countries == new.countries == (("BE", 4), ("GR", 4), ("PL", 4))
    assert old.status == new.status == 4
    assert (old.last_updated, old.last_publication_update) == ("2024-06-17", None)
    assert (new.last_updated, new.last_publication_update) == ("2025-08-19", "2025-08-20")
    texts = parse.update_marks(
        {
            "ctStatus": "Ongoing, recruiting",
            "trialCountries": "ES: Ongoing, recruiting, FR: Authorised, recruitment pending",
        }
    )
    assert (texts.status, texts.countries) == (4, (("ES", 4), ("FR", 2)))


def test_the_update_marks_move_when_a_country_or_status_does() -> None:
    """A country's status moving, or a new country, is a reason to retrieve again."""
    record = load(GREGORY)
    marks = parse.update_marks(record)
    record["trialCountries"] = [*record["trialCountries"], "Germany:2"]
    assert parse.update_marks(record) != marks
    assert parse.update_marks(record).countries[0] == ("DE", 2)
    record["ctStatus"] = 5
    assert parse.update_marks(record).status == 5


@pytest.mark.parametrize(
    "odd", [None, [], "x", {"trialCountries": ["Spain", ":4", 7], "ctStatus": True}]
)
def test_update_marks_of_an_odd_record_are_empty(odd: Any) -> None:
    """Nothing readable gives empty marks, never an error."""
    assert parse.update_marks(odd) == UpdateMarks(None, None, None, ())


def test_an_unknown_status_text_is_kept_as_sent() -> None:
    """A status word CTIS may add is a mark as it is; the application status is no mark."""
    assert parse.update_marks({"ctStatus": "Withdrawn  early"}).status == "Withdrawn early"
    assert parse.public_status({"authorizedApplication": {}, "ctStatus": "Authorised"}) is None
    assert parse.public_status(load(TRAJNOVD)) == 1


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("09/07/2026", date(2026, 7, 9)),
        ("2024-04-12", date(2024, 4, 12)),
        ("2024-04-12T09:35:07.009", date(2024, 4, 12)),
        ("2024-06-20T03:04:36.585635753", date(2024, 6, 20)),
        ("31/02/2026", None),
        ("IT: 24/06/2026", None),
        ("", None),
        (20260709, None),
        (None, None),
    ],
)
def test_it_reads_ctis_dates(text: Any, day: date | None) -> None:
    """Day-first in search records, ISO (with a time of up to nanoseconds) in retrieves."""
    assert parse.parse_date(text) == day
    assert parse.iso_day(text) == (day.isoformat() if day else None)


def test_it_reads_the_decision_day_of_each_country() -> None:
    """The search's ``decisionDate`` lists a day per country code."""
    assert parse.country_dates(load(GREGORY)["decisionDate"]) == {
        "IT": date(2026, 6, 24),
        "ES": date(2026, 6, 26),
        "PL": date(2026, 6, 29),
        "FR": date(2026, 6, 26),
    }
    assert parse.country_dates(None) == {}


def test_member_states_and_early_ends_are_read_by_country_code() -> None:
    """2026 gives each state's code; in 2024 they come from the overlaid trialCountries."""
    assert parse.member_states(load(CTRDATA_2026)) == {"PL": 4, "BE": 4, "GR": 4}
    assert parse.member_states(load(CTRDATA_2024)) == {"PL": 4, "BE": 4, "GR": 4}
    assert parse.member_states(parse.normalise(load(CTRDATA_2024))) == {
        "PL": None,
        "BE": None,
        "GR": None,
    }
    assert parse.early_terminations(load(CTRDATA_2026)) == {"BE": False, "GR": False, "PL": False}
    assert parse.other_countries(load(CTRDATA_2026)) == ("PH", "IL", "US", "RU", "MX", "PE")


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=12), _JSON, max_size=6), _JSON)
def test_any_json_object_is_normalised_and_hashed(record: dict[str, Any], extra: Any) -> None:
    """Normalising, hashing and reading marks never fail on a JSON object."""
    record["authorizedApplication"] = extra
    record["trialSites"] = [extra, 1, "x"]
    assert len(parse.content_hash(parse.canonical_json(record))) == 64
    assert isinstance(parse.update_marks(record), UpdateMarks)
    parse.record_problem(record)
