"""A CTIS record as the neutral trial: real values of the recorded records, no error on any."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.registries.ctis.test_parse import (
    CTRDATA_2024,
    CTRDATA_2026,
    GREGORY,
    NUMBERS,
    TRAJNOVD,
    load,
)
from trialwatch.registries.ctis import parse
from trialwatch.registries.ctis.summary import NEUTRAL_STATUS, PHASES, study_url, summarise
from trialwatch.trial import (
    Contact,
    CountryStatus,
    Enrollment,
    OtherId,
    Site,
    TrialDate,
    TrialRef,
    TrialSummary,
)
from trialwatch.vocab import STATUS_CODES
from trialwatch.words import ctis as words


@pytest.mark.parametrize("name", sorted(NUMBERS))
def test_every_recorded_record_is_summarised(name: str) -> None:
    """Each record, as recorded and normalised, names its trial, its page and a title."""
    for record in (load(name), parse.normalise(load(name))):
        trial = summarise(record)
        assert trial.ref == TrialRef("ctis", NUMBERS[name])
        assert trial.url == (
            "https://euclinicaltrials.eu/search-for-clinical-trials/?lang=en&EUCT=" + NUMBERS[name]
        )
        assert trial.conditions
        assert trial.phases


def test_the_2026_retrieve_gives_its_titles_status_and_identifiers() -> None:
    """2023-505613-24-00: posaconazole in children, recruiting, NCT and EudraCT numbers."""
    trial = summarise(load(CTRDATA_2026))
    assert trial.brief_title == (
        "Posaconazole (MK-5592) IV and oral in children (less than 2 years) with IFI"
    )
    assert trial.official_title is not None
    assert trial.official_title.startswith("A Phase 2, Open-Label, Single-Arm, Sequential-Panel")
    assert trial.acronym == "MK-5592-127"
    assert (trial.status, trial.registry_status) == ("RECRUITING", "Ongoing, recruiting")
    assert (trial.phases, trial.registry_phase) == (
        ("PHASE2",),
        "Therapeutic exploratory (Phase II)",
    )
    assert trial.conditions == ("Fungal infection",)
    assert (trial.sponsor, trial.collaborators) == ("Merck Sharp & Dohme LLC", ())
    assert trial.other_ids == (
        OtherId("2019-003842-34", "EUDRACT_NUMBER"),
        OtherId("NCT04665037", "REGISTRY", "ClinicalTrials.gov"),
        OtherId("75,061; 125,097", "REGISTRY", "IND"),
    )
    assert trial.has_results is False
    assert trial.central_contacts == (
        Contact("Stephen Holden", "Public", "+4407812737032", None, "stephen.holden@msd.com"),
    )


def test_the_2026_retrieve_gives_its_sites_and_countries() -> None:
    """Six sites in Belgium, Poland and Greece; six more countries outside the EEA."""
    trial = summarise(load(CTRDATA_2026))
    assert len(trial.sites) == 6
    assert trial.sites[0] == Site(
        facility="Universitair Ziekenhuis Gent",
        city="Gent",
        zip="9000",
        country="Belgium",
        status="RECRUITING",
        contacts=(
            Contact("Catharina Dhooge", None, "+3293324986", None, "catharina.dhooge@uzgent.be"),
        ),
    )
    assert sorted({s.city or "" for s in trial.sites if s.country == "Greece"}) == [
        "Athens",
        "Thessaloniki",
    ]
    assert trial.country_statuses[:3] == (
        CountryStatus("Poland", "RECRUITING", "Ongoing, recruiting"),
        CountryStatus("Belgium", "RECRUITING", "Ongoing, recruiting"),
        CountryStatus("Greece", "RECRUITING", "Ongoing, recruiting"),
    )
    assert CountryStatus("United States") in trial.country_statuses
    assert trial.countries == (
        "Belgium",
        "Greece",
        "Israel",
        "Mexico",
        "Peru",
        "Philippines",
        "Poland",
        "Russian Federation",
        "United States",
    )


def test_the_2026_retrieve_gives_dates_enrollment_and_criteria() -> None:
    """Started 28 April 2021 (Poland), to end by 22 September 2025; 13 in the EEA + 19 outside."""
    trial = summarise(load(CTRDATA_2026))
    assert trial.dates.start == TrialDate("2021-04-28", "actual")
    assert trial.dates.completion == TrialDate("2025-09-22", "expected")
    assert trial.last_update == "2025-08-20"
    assert trial.enrollment == Enrollment(32, "expected")
    assert trial.eligibility.sex == "ALL"
    criteria = trial.eligibility.criteria or ""
    assert criteria.startswith("Inclusion Criteria:\n\n1. Panel A: Is undergoing treatment")
    assert "\n\nExclusion Criteria:\n\n1. Has received POS within 30 days before Day 1" in criteria


def test_the_sponsor_s_translations_are_kept_by_language() -> None:
    """Greek and Polish titles, conditions and criteria, as the sponsor wrote them."""
    trial = summarise(load(CTRDATA_2026))
    assert {t.registry_language for t in trial.translations} == {"Greek", "Polish"}
    [greek_title] = trial.translated("brief_title", "el")
    assert greek_title.startswith("Ποσακοναζόλη (MK-5592)")
    assert trial.translated("conditions", "el") == ("Μυκητιασική λοίμωξη",)
    assert trial.translated("exclusion_criteria", "el")[0] == (
        "Έλαβε POS εντός 30 ημερών πριν από την 1η ημέρα."
    )
    assert trial.translated("inclusion_criteria", "pl")[0].startswith("Panel A: Pacjenci")
    assert trial.translated("brief_title", "de") == ()


def test_the_2024_record_had_seven_sites_and_statuses_in_text() -> None:
    """Olsztyn (Poland) left by 2026; the 2024 statuses came as text in trialCountries."""
    old, new = summarise(load(CTRDATA_2024)), summarise(load(CTRDATA_2026))
    assert len(old.sites) == 7
    assert {s.city for s in old.sites} - {s.city for s in new.sites} == {"Olsztyn"}
    assert {c.country: c.status for c in old.country_statuses[:3]} == {
        "Poland": "RECRUITING",
        "Belgium": "RECRUITING",
        "Greece": "RECRUITING",
    }
    assert old.last_update == "2024-06-20"  # its publishDate: no lastPublicationUpdate then


def test_a_search_record_is_summarised_from_its_own_fields() -> None:
    """Gregory's record: the full title, four countries each with its status, phase III."""
    trial = summarise(load(GREGORY))
    assert trial.title.startswith("A PHASE III, OPEN-LABEL, SINGLE-ARM")
    assert (trial.acronym, trial.sponsor) == ("CN46182", "F. Hoffmann-La Roche AG")
    assert trial.conditions == ("Multiple Sclerosis",)
    assert (trial.status, trial.registry_status) == ("RECRUITING", "Ongoing, recruiting")
    assert (trial.phases, trial.registry_phase) == (
        ("PHASE3",),
        "Therapeutic confirmatory (Phase III)",
    )
    assert trial.country_statuses == (
        CountryStatus("Spain", "RECRUITING", "Ongoing, recruiting"),
        CountryStatus("France", "NOT_YET_RECRUITING", "Authorised, recruitment pending"),
        CountryStatus("Italy", "RECRUITING", "Ongoing, recruiting"),
        CountryStatus("Poland", "RECRUITING", "Authorised, recruiting"),
    )
    assert trial.enrollment == Enrollment(54, "expected")
    assert trial.dates.start == TrialDate("2026-06-24", "actual")
    assert (trial.sites, trial.has_results) == ((), False)


def test_the_trimmed_retrieve_is_under_evaluation_for_phase_3() -> None:
    """trajnovd's 2025-523333-26-00: argenx, Graves' disease, code 5, public status 1."""
    trial = summarise(load(TRAJNOVD))
    assert (trial.status, trial.registry_status) == ("NOT_YET_RECRUITING", "Under evaluation")
    assert (trial.sponsor, trial.conditions) == ("Argenx", ("Graves' Disease (GD)",))
    assert trial.phases == ("PHASE3",)
    assert trial.enrollment == Enrollment(85, "expected")


def _ended(states: dict[str, list[str]], code: int = 8) -> dict[str, Any]:
    return {
        "ctNumber": "2024-512345-12-00",
        "ctPublicStatusCode": code,
        "authorizedApplication": {
            "memberStatesConcerned": [
                {"mscName": name, "mscPublicStatusCode": code} for name in states
            ]
        },
        "events": {
            "trialEvents": [
                {"mscName": name, "events": [{"notificationType": kind} for kind in kinds]}
                for name, kinds in states.items()
            ]
        },
    }


def test_an_end_is_early_only_where_every_member_state_notified_it() -> None:
    """Ended with EARLY_TERMINATION everywhere is TERMINATED; elsewhere COMPLETED."""
    everywhere = summarise(
        _ended({"France": ["EARLY_TERMINATION"], "Italy": ["EARLY_TERMINATION"]})
    )
    assert (everywhere.status, everywhere.registry_status) == ("TERMINATED", "Ended")
    somewhere = summarise(_ended({"France": ["EARLY_TERMINATION"], "Italy": ["END_OF_TRIAL"]}))
    assert somewhere.status == "COMPLETED"
    assert [c.status for c in somewhere.country_statuses] == ["TERMINATED", "COMPLETED"]


def test_a_status_without_an_honest_neutral_code_keeps_only_its_words() -> None:
    """Cancelled says nothing of who took part; a code CTIS adds later is shown as sent."""
    cancelled = summarise(_ended({"France": []}, code=12))
    assert (cancelled.status, cancelled.registry_status) == (None, "Cancelled")
    new = summarise(_ended({"France": []}, code=13))
    assert (new.status, new.registry_status) == (None, "13")


def test_the_neutral_codes_and_the_words_cover_the_twelve_statuses() -> None:
    """Every mapped code is a known neutral status; every public code has words."""
    assert set(NEUTRAL_STATUS.values()) <= set(STATUS_CODES)
    assert list(words.STATUS_LABELS) == list(range(1, 13))
    assert list(words.STATUS_EXPLANATIONS) == list(range(1, 13))
    assert words.STATUS_LABELS[7] == "Suspended"
    assert words.status_words(5) == "Ongoing, recruitment ended"
    assert words.status_words("3") == "Authorised, recruiting"
    assert words.status_words(42) == "Status 42"
    assert words.status_words("Authorised") == "Authorised"
    assert words.status_words(None) == "not given"
    assert words.status_code(" ongoing,  recruiting ") == 4
    assert words.status_code(True) is None
    assert words.status_explanation(6) == "Paused by the sponsor; it may start again."
    assert words.status_explanation(99) is None


def test_each_phase_code_names_its_neutral_phases() -> None:
    """The integrated phases name two, the others one."""
    phases = {
        code: summarise(
            {
                "authorizedApplication": {
                    "authorizedPartI": {
                        "trialDetails": {
                            "trialInformation": {"trialCategory": {"trialPhase": str(code)}}
                        }
                    }
                }
            }
        ).phases
        for code in PHASES
    }
    assert phases[1] == phases[3] == ("PHASE1",)
    assert phases[6] == ("PHASE4",)
    assert phases[7] == ("PHASE1", "PHASE2")
    assert phases[10] == ("PHASE2", "PHASE3")
    assert phases[11] == ("PHASE3", "PHASE4")
    assert summarise({"trialPhase": "Phase 2 and  phase III"}).phases == ("PHASE2", "PHASE3")
    unknown = {"trialCategory": {"trialPhase": "12"}}
    odd = summarise(
        {
            "authorizedApplication": {
                "authorizedPartI": {"trialDetails": {"trialInformation": unknown}}
            }
        }
    )
    assert (odd.phases, odd.registry_phase) == ((), "12")


def test_a_bare_or_malformed_record_gives_a_summary_with_defaults() -> None:
    """Missing parts and values of other shapes are left out, never an error."""
    bare = summarise({})
    assert bare == TrialSummary(ref=TrialRef("ctis", ""), url=study_url(""))
    odd = summarise(
        {
            "ctNumber": "2024-512345-12-00",
            "ctStatus": "Authorised",
            "authorizedApplication": {
                "authorizedPartI": ["x"],
                "authorizedPartsII": [
                    "x",
                    {"recruitmentSubjectCount": "6", "trialSites": [{"personInfo": 3}]},
                ],
                "memberStatesConcerned": {"mscName": "Belgium"},
                "eudraCt": {"eudraCtCode": 2019},
            },
            "events": {"trialEvents": [{"mscName": None, "events": "START_OF_TRIAL"}]},
            "results": ["summaryResults"],
            "trialCountries": 4,
            "startDateEU": "soon",
        }
    )
    assert odd.ref.id == "2024-512345-12-00"
    assert (odd.status, odd.registry_status, odd.phases) == (None, None, ())
    assert odd.sites == (Site(),)
    assert (odd.enrollment, odd.other_ids, odd.dates.start) == (None, (), None)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            found += _paths(item, (*path, index))
    return found


_RECORD = load(CTRDATA_2026)
_PATHS = [p for p in _paths(_RECORD) if p]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PATHS), _JSON), min_size=1, max_size=6))
def test_any_value_anywhere_gives_a_summary(edits: list[tuple[tuple[Any, ...], Any]]) -> None:
    """The real record with any parts replaced by any JSON: a summary, its texts texts."""
    record = orjson.loads(orjson.dumps(_RECORD))
    for path, value in edits:
        parent = record
        for step in path[:-1]:
            try:
                parent = parent[step]
            except (KeyError, IndexError, TypeError):
                break
        else:
            if isinstance(parent, dict) or (
                isinstance(parent, list) and isinstance(path[-1], int) and path[-1] < len(parent)
            ):
                parent[path[-1]] = value
    trial = summarise(record)
    assert isinstance(trial.title, str)
    texts = trial.phases + trial.conditions + trial.countries + trial.collaborators
    assert all(isinstance(text, str) for text in texts)
    assert all(isinstance(t.text, str) for t in trial.translations)


def test_a_summary_reads_the_same_after_the_noise_is_shuffled() -> None:
    """Sites come in another order; the summary holds the same sites."""
    record = load(CTRDATA_2026)
    shuffled = load(CTRDATA_2026)
    for part in shuffled["authorizedApplication"]["authorizedPartsII"]:
        random.Random(5).shuffle(part["trialSites"])
    assert set(summarise(shuffled).sites) == set(summarise(record).sites)
