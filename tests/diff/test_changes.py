"""diff_records on real API v2 records edited the way the registry edits them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.diff.conftest import (
    assert_values_match,
    bump,
    kinds,
    load_pair,
    load_record,
    module,
    not_noise,
    of_kind,
)
from trialwatch.diff import KINDS, Change
from trialwatch.registries.ctgov.differ import (
    NCT_ID_FIELD,
    diff_records,
    left_watchlist,
    removed_from_registry,
    study_label,
)

ARDA = "constructed/NCT05225675.json"
ECOG = "NCT06171568.json"
STATUS = "protocolSection.statusModule"


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = diff_records(old, new)
    assert_values_match(old, new, changes)
    return changes


def test_it_reports_a_new_study() -> None:
    """A study seen for the first time is one major new_study change."""
    record = load_record(ARDA)
    module(record, "statusModule")["overallStatus"] = "RECRUITING"
    module(record, "identificationModule")["briefTitle"] = "ARGX-117 in Adults With MMN"
    [change] = diff_records(None, record)
    assert change == Change(
        "new_study",
        NCT_ID_FIELD,
        None,
        "NCT05225675",
        'New trial: "ARGX-117 in Adults With MMN" (ARDA) — Recruiting',
        "major",
    )


def test_it_clips_a_long_title_in_a_new_study() -> None:
    """A long title is cut with an ellipsis so the line stays short."""
    record = load_record("NCT02552212.json")
    [change] = diff_records(None, record)
    assert len(change.summary) <= 120
    assert change.summary.startswith('New trial: "Multicenter Study Evaluating Certolizumab')
    assert change.summary.endswith('…" (C-AXSPAND) — Completed')


def test_it_names_a_new_study_without_title_or_status_by_its_id() -> None:
    """Without a title the NCT ID stands in; without a status no status is shown."""
    [change] = diff_records(None, {"protocolSection": {"identificationModule": {"nctId": "NCT1"}}})
    assert change.summary == "New trial: NCT1"


def test_it_flags_status_change() -> None:
    """ACTIVE_NOT_RECRUITING -> COMPLETED with a bookkeeping bump: major status change."""
    old, new = load_pair(ARDA)
    module(new, "statusModule")["overallStatus"] = "COMPLETED"
    bump(new)
    changes = _diff(old, new)
    change = changes[0]
    assert (change.kind, change.field) == ("overall_status", f"{STATUS}.overallStatus")
    assert (change.old, change.new, change.significance) == (
        "ACTIVE_NOT_RECRUITING",
        "COMPLETED",
        "major",
    )
    assert change.summary == "Status: Active, not recruiting → Completed"
    assert not_noise(changes) == [change]


def test_it_flags_a_withdrawn_study() -> None:
    """A status that becomes WITHDRAWN has its own major kind."""
    old, new = load_pair(ECOG)
    module(new, "statusModule")["overallStatus"] = "WITHDRAWN"
    change = of_kind(_diff(old, new), "withdrawn")
    assert (change.old, change.new, change.significance) == (
        "NOT_YET_RECRUITING",
        "WITHDRAWN",
        "major",
    )
    assert change.summary == "Status: Not yet recruiting → Withdrawn"


@pytest.mark.parametrize(
    ("status", "words"), [("TERMINATED", "Terminated"), ("SUSPENDED", "Suspended")]
)
def test_it_flags_a_stopped_study_with_its_reason(status: str, words: str) -> None:
    """TERMINATED or SUSPENDED is a major stopped change; the reason given is major too."""
    old, new = load_pair("constructed/NCT06742190.json")
    module(new, "statusModule")["overallStatus"] = status
    module(new, "statusModule")["whyStopped"] = "Sponsor decision"
    changes = _diff(old, new)
    assert kinds(changes) == ["stopped", "why_stopped"]
    assert changes[0].summary == f"Status: Recruiting → {words}"
    assert changes[1].summary == 'Reason for stopping: "Sponsor decision"'
    assert {c.significance for c in changes} == {"major"}


def test_it_reports_a_reason_for_stopping_removed_as_minor() -> None:
    """The withdrawn record losing its reason is a minor why_stopped change."""
    old, new = load_pair("NCT00973089.json")
    del module(new, "statusModule")["whyStopped"]
    change = of_kind(_diff(old, new), "why_stopped")
    assert (change.new, change.significance) == (None, "minor")
    assert change.summary == "Reason for stopping removed"


def test_it_reports_a_status_appearing() -> None:
    """A status where there was none shows only the new one."""
    old, new = load_pair(ARDA)
    del module(old, "statusModule")["overallStatus"]
    assert of_kind(_diff(old, new), "overall_status").summary == "Status: Active, not recruiting"


def test_it_flags_results_posted() -> None:
    """hasResults false -> true with a results section and dates: one major change."""
    old = load_record("NCT02552212.json")
    new = load_record("NCT02552212.json")
    old["hasResults"] = False
    del old["resultsSection"]
    for key in ("resultsFirstSubmitDate", "resultsFirstSubmitQcDate", "resultsFirstPostDateStruct"):
        del module(old, "statusModule")[key]
    changes = _diff(old, new)
    assert changes == [
        Change("results_posted", "hasResults", False, True, "Results posted", "major")
    ]


def test_it_reports_results_removed_as_minor() -> None:
    """hasResults true -> false is a minor results_removed change."""
    old, new = load_pair("NCT03064438.json")
    new["hasResults"] = False
    change = of_kind(_diff(old, new), "results_removed")
    assert (change.old, change.new, change.summary) == (True, False, "Results no longer posted")


def test_it_reports_results_dates_alone_as_noise() -> None:
    """Results dates changing without results being posted are noise."""
    old, new = load_pair("NCT03064438.json")
    module(new, "statusModule")["resultsFirstSubmitDate"] = "2021-08-01"
    [change] = _diff(old, new)
    assert (change.kind, change.significance) == ("other", "noise")
    assert change.field == f"{STATUS}.resultsFirstSubmitDate"


def test_it_reports_primary_completion_expected_to_actual() -> None:
    """The example from the design: expected October 2024 -> actual November 2024."""
    old, new = load_pair(ARDA)
    module(old, "statusModule")["primaryCompletionDateStruct"] = {
        "date": "2024-10",
        "type": "ESTIMATED",
    }
    module(new, "statusModule")["primaryCompletionDateStruct"] = {
        "date": "2024-11-04",
        "type": "ACTUAL",
    }
    bump(new)
    change = of_kind(_diff(old, new), "primary_completion_date")
    assert change.old == {"date": "2024-10", "type": "ESTIMATED"}
    assert change.significance == "minor"
    assert change.summary == "Primary completion: expected October 2024 → actual November 2024"


@pytest.mark.parametrize(
    ("key", "kind", "title"),
    [
        ("startDateStruct", "start_date", "Start"),
        ("completionDateStruct", "completion_date", "Completion"),
    ],
)
def test_it_reports_start_and_completion_dates(key: str, kind: str, title: str) -> None:
    """Start and completion dates moving are minor changes in month words."""
    old, new = load_pair(ECOG)
    module(old, "statusModule")[key] = {"date": "2024-02-01", "type": "ESTIMATED"}
    module(new, "statusModule")[key] = {"date": "2025-06-01", "type": "ESTIMATED"}
    change = of_kind(_diff(old, new), kind)
    assert change.summary == f"{title}: expected February 2024 → expected June 2025"


def test_it_shows_the_day_when_only_the_day_moved() -> None:
    """Within one month the day is what changed, so it is shown."""
    old, new = load_pair(ARDA)
    module(new, "statusModule")["startDateStruct"]["date"] = "2022-03-29"
    change = of_kind(_diff(old, new), "start_date")
    assert change.summary == "Start: actual 15 March 2022 → actual 29 March 2022"


def test_it_reports_a_date_without_type_and_a_date_removed() -> None:
    """Old records give some dates without a type; a date can also disappear."""
    old, new = load_pair("NCT00763412.json")
    del module(new, "statusModule")["startDateStruct"]
    change = of_kind(_diff(old, new), "start_date")
    assert change.summary == "Start: November 2006 → not given"


def test_it_reports_first_posting() -> None:
    """studyFirstPostDateStruct appearing is a minor first_posted change."""
    old, new = load_pair(ARDA)
    del module(old, "statusModule")["studyFirstPostDateStruct"]
    change = of_kind(_diff(old, new), "first_posted")
    assert (change.old, change.new) == (None, {"date": "2022-02-07", "type": "ACTUAL"})
    assert change.summary == "First posted: actual February 2022"


def test_it_reports_enrollment_estimated_to_actual() -> None:
    """The example from the design: 54 expected -> 61 actual."""
    old, new = load_pair("constructed/NCT06537999.json")
    module(old, "designModule")["enrollmentInfo"] = {"count": 54, "type": "ESTIMATED"}
    module(new, "designModule")["enrollmentInfo"] = {"count": 61, "type": "ACTUAL"}
    change = of_kind(_diff(old, new), "enrollment")
    assert (change.field, change.significance) == (
        "protocolSection.designModule.enrollmentInfo",
        "minor",
    )
    assert change.summary == "Enrollment: 54 expected → 61 actual"


def test_it_reports_enrollment_without_type_or_count() -> None:
    """A count without type is shown bare; no count is 'not given'."""
    old, new = load_pair(ECOG)
    module(new, "designModule")["enrollmentInfo"] = {"count": 12}
    assert of_kind(_diff(old, new), "enrollment").summary == "Enrollment: 400 expected → 12"
    module(new, "designModule")["enrollmentInfo"] = {"type": "ACTUAL"}
    assert of_kind(_diff(old, new), "enrollment").summary == "Enrollment: 400 expected → not given"


def test_it_reports_phase_change() -> None:
    """Phases are words, in phase order: Phase 2 -> Phase 2/Phase 3."""
    old, new = load_pair(ARDA)
    module(new, "designModule")["phases"] = ["PHASE3", "PHASE2"]
    change = of_kind(_diff(old, new), "phase")
    assert (change.old, change.new) == (["PHASE2"], ["PHASE3", "PHASE2"])
    assert change.summary == "Phase: Phase 2 → Phase 2/Phase 3"


def test_it_reports_phase_from_not_applicable_and_early_phase() -> None:
    """NA is 'Not applicable' and EARLY_PHASE1 'Early Phase 1'."""
    old, new = load_pair("NCT00763412.json")
    module(new, "designModule")["phases"] = ["EARLY_PHASE1"]
    assert of_kind(_diff(old, new), "phase").summary == "Phase: Not applicable → Early Phase 1"


def test_it_ignores_reordered_phases() -> None:
    """Phases are a set."""
    old, new = load_pair("NCT04431453.json")
    module(new, "designModule")["phases"].reverse()
    assert diff_records(old, new) == []


@pytest.mark.parametrize(
    ("key", "kind", "summary"),
    [
        ("briefTitle", "brief_title", 'Title changed: "ARGX-117 in MMN"'),
        ("officialTitle", "official_title", 'Official title changed: "ARGX-117 in MMN"'),
    ],
)
def test_it_reports_title_changes(key: str, kind: str, summary: str) -> None:
    """Brief and official titles are minor changes quoting the new title."""
    old, new = load_pair(ARDA)
    module(new, "identificationModule")[key] = "ARGX-117  in MMN"
    change = of_kind(_diff(old, new), kind)
    assert (change.new, change.summary, change.significance) == (
        "ARGX-117  in MMN",
        summary,
        "minor",
    )


def test_it_clips_a_long_new_title_and_reports_a_removed_one() -> None:
    """A long title is cut to keep the line short; a removed one says so."""
    old, new = load_pair(ECOG)
    module(new, "identificationModule")["officialTitle"] += " and a long tail" * 10
    summary = of_kind(_diff(old, new), "official_title").summary
    assert len(summary) <= 120
    assert summary.endswith('…"')
    del module(new, "identificationModule")["officialTitle"]
    assert of_kind(_diff(old, new), "official_title").summary == "Official title removed"


def test_it_reports_acronym_changes() -> None:
    """An acronym changed, added or removed."""
    old, new = load_pair(ARDA)
    module(new, "identificationModule")["acronym"] = "ARDA-2"
    assert of_kind(_diff(old, new), "acronym").summary == "Acronym: ARDA → ARDA-2"
    del module(new, "identificationModule")["acronym"]
    assert of_kind(_diff(old, new), "acronym").summary == "Acronym removed (was ARDA)"
    assert of_kind(_diff(new, old), "acronym").summary == "Acronym: ARDA"


def test_it_reports_conditions_added_and_removed() -> None:
    """Conditions are compared as a set and named."""
    old, new = load_pair(ARDA)
    module(new, "conditionsModule")["conditions"] = ["MMN", "CIDP"]
    change = of_kind(_diff(old, new), "conditions")
    assert change.summary == "Conditions: added MMN, CIDP; removed Multifocal Motor Neuropathy"
    assert change.significance == "minor"


def test_it_reports_keywords_as_noise() -> None:
    """Keywords are not in the vocabulary: one other change for the module."""
    old, new = load_pair(ARDA)
    module(new, "conditionsModule")["keywords"].append("empasiprubart")
    [change] = _diff(old, new)
    assert (change.kind, change.field, change.summary) == (
        "other",
        "protocolSection.conditionsModule.keywords",
        "Keywords updated",
    )


@pytest.mark.parametrize(
    ("key", "value", "kind", "summary"),
    [
        ("minimumAge", "16 Years", "eligibility_min_age", "Minimum age: 18 years → 16 years"),
        ("maximumAge", "75 Years", "eligibility_max_age", "Maximum age: no limit → 75 years"),
        ("sex", "FEMALE", "eligibility_sex", "Sex: All → Female"),
        (
            "healthyVolunteers",
            True,
            "eligibility_healthy_volunteers",
            "Healthy volunteers: not accepted → accepted",
        ),
        (
            "stdAges",
            ["OLDER_ADULT", "ADULT", "CHILD"],
            "eligibility_age_groups",
            "Age groups: Adult, Older adult → Child, Adult, Older adult",
        ),
    ],
)
def test_it_reports_eligibility_changes(key: str, value: Any, kind: str, summary: str) -> None:
    """Ages, sex, healthy volunteers and age groups are minor changes."""
    old, new = load_pair(ARDA)
    old_value = module(old, "eligibilityModule").get(key)
    module(new, "eligibilityModule")[key] = value
    change = of_kind(_diff(old, new), kind)
    assert (change.old, change.new) == (old_value, value)
    assert (change.summary, change.significance) == (summary, "minor")


def test_it_reports_eligibility_removed() -> None:
    """Absent ages, sex, volunteers and criteria read as such."""
    old, new = load_pair("NCT03418623.json")
    eligibility = module(new, "eligibilityModule")
    for key in ("maximumAge", "minimumAge", "sex", "healthyVolunteers", "eligibilityCriteria"):
        del eligibility[key]
    summaries = [c.summary for c in _diff(old, new)]
    assert summaries == [
        "Eligibility criteria removed",
        "Minimum age: 21 years → none",
        "Maximum age: 40 years → no limit",
        "Sex: All → not given",
        "Healthy volunteers: not accepted → not given",
    ]
    assert "Eligibility criteria added" in [c.summary for c in _diff(new, old)]


def test_it_reports_arms_added_removed_and_changed() -> None:
    """Arms are matched by label."""
    old, new = load_pair("NCT03064438.json")
    arms = module(new, "armsInterventionsModule")["armGroups"]
    first, second = arms[0], arms[1]
    arms.remove(second)
    first["description"] = "Twice daily"
    arms.append({"label": "Open-label extension", "type": "EXPERIMENTAL"})
    changes = _diff(old, new)
    assert kinds(changes) == ["arm_added", "arm_removed", "arm_changed"]
    assert [c.summary for c in changes] == [
        'New arm: "Open-label extension"',
        f'Arm removed: "{second["label"]}"',
        f'Arm updated: "{first["label"]}"',
    ]
    assert {c.significance for c in changes} == {"minor"}


def test_it_reports_interventions_added_and_removed() -> None:
    """Interventions are matched by type and name."""
    old, new = load_pair(ARDA)
    interventions = module(new, "armsInterventionsModule")["interventions"]
    interventions[1]["type"] = "BIOLOGICAL"
    interventions.append({"type": "DIETARY_SUPPLEMENT", "name": "Vitamin D"})
    interventions[0]["otherNames"].append("ARGX 117")
    changes = _diff(old, new)
    assert [(c.kind, c.summary) for c in changes] == [
        ("intervention_added", "New intervention: Placebo (biological)"),
        ("intervention_added", "New intervention: Vitamin D (dietary supplement)"),
        ("intervention_removed", "Intervention removed: Placebo (drug)"),
        ("intervention_changed", "ARGX-117: also known as ARGX 117"),
    ]
    assert changes[2].field.endswith("interventions[DRUG|Placebo]")


def test_it_reports_lead_sponsor_and_collaborators() -> None:
    """A new sponsor name, a collaborator added, removed and reclassified."""
    old, new = load_pair("NCT04431453.json")
    sponsors = module(new, "sponsorCollaboratorsModule")
    old_name = sponsors["leadSponsor"]["name"]
    sponsors["leadSponsor"] = {"name": "Gilead Sciences, Inc.", "class": "INDUSTRY"}
    sponsors["collaborators"] = [{"name": "UCB", "class": "INDUSTRY"}]
    changes = _diff(old, new)
    assert changes[0].summary == f"Sponsor: {old_name} → Gilead Sciences, Inc."
    assert kinds(changes) == ["lead_sponsor", "collaborator_added"]
    assert changes[1].summary == "New collaborator: UCB"


def test_it_reports_sponsor_details_and_collaborator_changes() -> None:
    """Same sponsor name, new class; collaborators removed and updated."""
    old, new = load_pair("NCT02552212.json")
    sponsors = module(new, "sponsorCollaboratorsModule")
    sponsors["leadSponsor"]["class"] = "OTHER"
    old_sponsors = module(old, "sponsorCollaboratorsModule")
    old_sponsors["collaborators"] = [{"name": "PRA Health Sciences", "class": "INDUSTRY"}]
    sponsors["collaborators"] = [{"name": "PRA Health Sciences", "class": "OTHER"}]
    changes = _diff(old, new)
    assert [c.summary for c in changes] == [
        "Sponsor details updated: UCB BIOSCIENCES GmbH",
        "Collaborator updated: PRA Health Sciences",
    ]
    sponsors["collaborators"] = []
    assert of_kind(_diff(old, new), "collaborator_removed").summary == (
        "Collaborator removed: PRA Health Sciences"
    )


def test_it_reports_central_contact_changes() -> None:
    """Central contacts are matched by name, else e-mail."""
    old, new = load_pair("NCT03475563.json")
    contacts = module(new, "contactsLocationsModule")["centralContacts"]
    contacts[0]["phone"] = "000"
    contacts.append({"role": "CONTACT", "email": "trials@example.org"})
    changes = _diff(old, new)
    assert [(c.kind, c.summary) for c in changes] == [
        ("contact_added", "New contact: trials@example.org"),
        ("contact_changed", f"Contact {contacts[0]['name']}: new phone 000"),
    ]
    del contacts[0]
    assert any(c.kind == "contact_removed" for c in _diff(old, new))


def test_it_reports_a_bookkeeping_bump_as_noise_only() -> None:
    """Only lastUpdate/verified dates and versionHolder changed: nothing to mail."""
    old, new = load_pair(ARDA)
    bump(new)
    module(new, "statusModule")["statusVerifiedDate"] = "2025-09"
    changes = _diff(old, new)
    assert {c.significance for c in changes} == {"noise"}
    assert [c.summary for c in changes] == [
        "Last update posted: 2025-09-01",
        "Last update submitted: 2025-09-01",
        "Status last verified: 2025-09",
        "Registry bookkeeping updated",
    ]


def test_it_reports_the_later_snapshot_of_the_same_study_as_noise() -> None:
    """NCT02552212 and its later snapshot differ only in derivedSection."""
    old = load_record("NCT02552212.json")
    new = load_record("NCT02552212.variant-from-aact-NCT02278341-file.json")
    changes = _diff(old, new)
    assert changes
    assert {c.significance for c in changes} == {"noise"}
    assert all(c.field.startswith("derivedSection.") for c in changes)
    assert {c.summary for c in changes} == {"Registry bookkeeping updated"}


def test_it_reports_other_fields_as_one_noise_change_per_module() -> None:
    """Two edits in the description module give one change at the module path."""
    old, new = load_pair(ECOG)
    description = module(new, "descriptionModule")
    description["briefSummary"] += " More."
    description["detailedDescription"] = "Details."
    [change] = _diff(old, new)
    assert (change.kind, change.field, change.summary) == (
        "other",
        "protocolSection.descriptionModule",
        "Study description updated",
    )
    assert change.old == module(old, "descriptionModule")


def test_it_reports_sections_appearing_and_odd_shapes_as_noise() -> None:
    """A new section, a module that is not an object, an unknown top-level key."""
    old, new = load_pair(ECOG)
    new["documentSection"] = {"largeDocumentModule": {"noSap": True}}
    new["protocolSection"]["oversightModule"] = "n/a"
    new["newTopLevel"] = 1
    changes = _diff(old, new)
    assert [(c.field, c.summary) for c in changes] == [
        ("documentSection", "Study documents updated"),
        ("newTopLevel", "Other registry details updated"),
        ("protocolSection.oversightModule", "Oversight details updated"),
    ]


def test_it_reports_a_key_that_cannot_be_a_path_as_a_whole_record_change() -> None:
    """A top-level key with a dot cannot be named in a field: the whole record is."""
    old, new = load_pair(ARDA)
    new["odd.key"] = 1
    [change] = _diff(old, new)
    assert (change.field, change.old, change.new) == ("", old, new)


def test_it_reports_a_module_key_that_cannot_be_a_path_at_the_section() -> None:
    """A module name with a dot is reported at its section."""
    old, new = load_pair(ARDA)
    new["derivedSection"]["odd.module"] = {}
    [change] = _diff(old, new)
    assert change.field == "derivedSection"


def test_it_reports_a_field_present_as_null_versus_absent() -> None:
    """``{"whyStopped": null}`` differs from no whyStopped: noise, not a reason."""
    old, new = load_pair(ARDA)
    module(new, "statusModule")["whyStopped"] = None
    [change] = _diff(old, new)
    assert (change.kind, change.field, change.old, change.new) == (
        "other",
        f"{STATUS}.whyStopped",
        None,
        None,
    )


def test_it_returns_nothing_for_the_same_record() -> None:
    """The same object, or an equal copy, has no changes."""
    old, new = load_pair("NCT02513394.json")
    assert diff_records(old, old) == []
    assert diff_records(old, new) == []


def test_it_lists_major_changes_first() -> None:
    """Changes are sorted major, minor, noise."""
    old, new = load_pair(ARDA)
    bump(new)
    module(new, "designModule")["enrollmentInfo"]["count"] = 60
    module(new, "statusModule")["overallStatus"] = "COMPLETED"
    assert [c.significance for c in _diff(old, new)] == [
        "major",
        "minor",
        "noise",
        "noise",
        "noise",
    ]


def test_it_keeps_every_kind_listed_and_summaries_short() -> None:
    """to_dict mirrors the attributes; a long reason is clipped to 120 characters."""
    old, new = load_pair(ARDA)
    module(new, "statusModule")["whyStopped"] = "word " * 100
    [change] = _diff(old, new)
    assert change.kind in KINDS
    assert change.summary.endswith('word…"')
    assert len(change.summary) <= 120
    assert change.to_dict() == {
        "kind": "why_stopped",
        "field": f"{STATUS}.whyStopped",
        "old": None,
        "new": "word " * 100,
        "summary": change.summary,
        "significance": "major",
        "message": "why_stopped",
        "params": {"text": ("word " * 100).strip()},
    }


def test_it_reports_leaving_a_watchlist_as_minor() -> None:
    """left_watchlist names the study and the watchlist."""
    change = left_watchlist(load_record(ARDA), "MMN trials")
    assert change == Change(
        "left_watchlist",
        "watchlist",
        "MMN trials",
        None,
        'ARDA (NCT05225675) no longer matches "MMN trials"',
        "minor",
    )


def test_it_reports_removal_from_the_registry_as_major() -> None:
    """removed_from_registry names the study."""
    change = removed_from_registry(load_record(ARDA))
    assert (change.kind, change.field, change.old, change.new, change.significance) == (
        "removed_from_registry",
        NCT_ID_FIELD,
        "NCT05225675",
        None,
        "major",
    )
    assert change.summary == "ARDA (NCT05225675) is no longer listed on ClinicalTrials.gov"


def test_it_labels_studies_by_acronym_else_title() -> None:
    """study_label prefers the acronym, then the brief title, then the NCT ID."""
    record = load_record("NCT00763412.json")
    label = study_label(record)
    assert label.endswith(" (NCT00763412)")
    assert len(label) <= 60 + len(" (NCT00763412)")
    del module(record, "identificationModule")["briefTitle"]
    del module(record, "identificationModule")["officialTitle"]
    assert study_label(record) == "NCT00763412"
    assert study_label({}) == "Unknown study"
    assert study_label({"protocolSection": {"identificationModule": {"acronym": "X"}}}) == "X"
