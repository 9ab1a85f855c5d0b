"""A CT.gov record as the neutral trial: real values of recorded records, no error on any."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trialwatch.registries import lookup
from trialwatch.registries.ctgov import study_url
from trialwatch.registries.ctgov.summary import change_sites, summarise
from trialwatch.trial import Contact, Enrollment, OtherId, TrialDate, TrialRef, TrialSummary

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ctgov"


def _records(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("studies"), list):
        return [r for r in data["studies"] if isinstance(r, dict)]
    return [data] if isinstance(data, dict) and "protocolSection" in data else []


def _record(name: str) -> dict[str, Any]:
    [record] = _records(FIXTURES / name)
    return record


RECORDED = sorted(
    path for path in FIXTURES.rglob("*.json") if "spec" not in path.parts and _records(path)
)


def test_the_fixtures_hold_records() -> None:
    """The recorded records, the constructed ones and the captured pages are all read below."""
    names = {path.name for path in RECORDED}
    assert {"NCT06171568.json", "NCT05225675.json", "NCT00763412.json"} <= names
    assert any(path.parent.name == "captures" for path in RECORDED)


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_recorded_record_is_summarised(path: Path) -> None:
    """Each record gives a summary naming it, with its page and its sites' countries."""
    for record in _records(path):
        trial = summarise(record)
        nct_id = record["protocolSection"]["identificationModule"]["nctId"]
        assert trial.ref == TrialRef("ctgov", nct_id)
        assert trial.url == f"https://clinicaltrials.gov/study/{nct_id}"
        assert trial.title
        locations = record["protocolSection"].get("contactsLocationsModule", {}).get("locations")
        assert len(trial.sites) == len(locations or [])


def test_an_mmn_record_gives_its_status_sites_and_enrollment() -> None:
    """NCT05225675 (ARDA, constructed on a real skeleton): four sites, 54 actual participants."""
    trial = summarise(_record("constructed/NCT05225675.json"))
    assert (trial.acronym, trial.status, trial.registry_status) == (
        "ARDA",
        "ACTIVE_NOT_RECRUITING",
        "ACTIVE_NOT_RECRUITING",
    )
    assert trial.sponsor == "argenx"
    assert trial.phases == ("PHASE2",)
    assert len(trial.sites) == 4
    assert (trial.sites[0].city, trial.sites[0].country) == ("Utrecht", "Netherlands")
    assert (trial.sites[0].lat, trial.sites[0].lon) == (52.09083, 5.12222)
    assert trial.countries == ("Belgium", "France", "Netherlands", "United States")
    assert trial.enrollment == Enrollment(54, "actual", "ACTUAL")
    assert trial.dates.start == TrialDate("2022-03-15", "actual", "ACTUAL")


def test_a_real_record_gives_its_contacts_dates_eligibility_and_other_ids() -> None:
    """NCT06171568: one Paris site with two contacts, expected dates, an IDRCB number."""
    trial = summarise(_record("NCT06171568.json"))
    [site] = trial.sites
    assert (site.facility, site.city, site.state, site.zip, site.country) == (
        "Neurosurgery - Lariboisière hospital",
        "Paris",
        "Ile-de-France",
        "75010",
        "France",
    )
    assert site.contacts[0] == Contact(
        "Camille Heslot, MD", "CONTACT", "01.49.95.81.69", "+33", "camille.heslot@aphp.fr"
    )
    assert trial.central_contacts[0].name == "Camille Heslot, MD"
    assert trial.enrollment == Enrollment(400, "expected", "ESTIMATED")
    assert trial.dates.first_posted is not None
    assert trial.dates.first_posted.day is not None
    assert trial.dates.first_posted.day.isoformat() == "2023-12-14"
    assert trial.dates.results_first_posted is None
    eligibility = trial.eligibility
    assert (eligibility.minimum_age, eligibility.maximum_age, eligibility.sex) == (
        "18 Years",
        None,
        "ALL",
    )
    assert eligibility.healthy_volunteers is False
    assert "Inclusion" in (eligibility.criteria or "")
    assert trial.other_ids == (OtherId("2023-A00386-39", "OTHER", "IDRCB"),)
    assert trial.sponsor == "Assistance Publique - Hôpitaux de Paris"
    assert trial.collaborators[0] == "SBT Human(s) Matter"
    assert trial.has_results is False


def test_a_completed_record_with_results_keeps_an_untyped_date() -> None:
    """NCT00763412: results posted, a start date without its type, an NIH grant number."""
    trial = summarise(_record("NCT00763412.json"))
    assert (trial.status, trial.has_results, trial.last_update) == (
        "COMPLETED",
        True,
        "2017-06-05",
    )
    assert trial.dates.start == TrialDate("2006-11", None, None)
    assert trial.dates.start.day is None
    assert trial.interventions == ("placebo", "repaglinide")
    assert trial.other_ids == (OtherId("P60DK020579", "NIH", None),)


def test_a_eudract_number_is_an_other_id() -> None:
    """NCT02552212 names its EudraCT number among its secondary IDs."""
    trial = summarise(_record("NCT02552212.json"))
    assert OtherId("2015-001894-41", "EUDRACT_NUMBER", None) in trial.other_ids


def test_a_bare_or_malformed_record_gives_a_summary_with_defaults() -> None:
    """Missing modules and values of other types are left out, never an error."""
    bare = summarise({})
    assert bare == TrialSummary(ref=TrialRef("ctgov", ""), url="https://clinicaltrials.gov/study/")
    assert (bare.title, bare.last_update, bare.countries) == ("", None, ())
    odd = summarise(
        {
            "protocolSection": {
                "identificationModule": {"nctId": "NCT00000001", "briefTitle": ["x"]},
                "statusModule": ["RECRUITING"],
                "designModule": {"enrollmentInfo": {"count": "54"}, "phases": "PHASE1"},
                "contactsLocationsModule": {"locations": ["x", {"geoPoint": {"lat": True}}]},
                "eligibilityModule": {"healthyVolunteers": "no", "sex": 1},
            },
            "hasResults": "true",
        }
    )
    assert odd.ref.id == "NCT00000001"
    assert (odd.title, odd.status, odd.phases, odd.has_results) == ("", None, (), False)
    assert odd.enrollment == Enrollment(None, None, None)
    assert [(s.lat, s.country) for s in odd.sites] == [(None, None)]
    assert (odd.eligibility.healthy_volunteers, odd.eligibility.sex) == (None, None)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
_MODULES = (
    "identificationModule",
    "statusModule",
    "designModule",
    "sponsorCollaboratorsModule",
    "contactsLocationsModule",
    "eligibilityModule",
    "conditionsModule",
    "armsInterventionsModule",
)


@given(
    st.dictionaries(st.sampled_from(_MODULES), _JSON, max_size=4),
    st.one_of(st.none(), _JSON),
)
def test_any_shape_of_modules_gives_a_summary(modules: dict[str, Any], extra: Any) -> None:
    """Whatever each module holds (any JSON), the summary is made and its texts are texts."""
    trial = summarise({"protocolSection": modules, "hasResults": extra})
    assert isinstance(trial.title, str)
    assert all(isinstance(p, str) for p in trial.phases + trial.conditions + trial.countries)


def test_a_site_change_is_read_from_its_new_side_else_its_old() -> None:
    """A grouped change holds a list of sites, a removed site only an old side."""
    leiden, paris = {"city": "Leiden"}, {"city": "Paris"}
    assert [s.city for s in change_sites("sites_added", [], [leiden, paris])] == [
        "Leiden",
        "Paris",
    ]
    assert [s.city for s in change_sites("site_removed", paris, None)] == ["Paris"]
    assert change_sites("overall_status", "RECRUITING", "COMPLETED") == ()


def test_the_study_url_is_built_in_one_place() -> None:
    """The registry's own helper and the neutral lookup give the same page."""
    assert study_url("NCT05225675") == "https://clinicaltrials.gov/study/NCT05225675"
    assert lookup.study_url("ctgov", "NCT05225675") == study_url("NCT05225675")
    assert lookup.summarise("ctgov", _record("NCT06171568.json")).ref.id == "NCT06171568"
    with pytest.raises(KeyError):
        lookup.study_url("nowhere", "X1")
