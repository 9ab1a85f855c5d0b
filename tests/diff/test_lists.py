"""Interventions renamed or given other names, on the constructed ARDA record."""

from __future__ import annotations

from typing import Any

from tests.diff.conftest import assert_values_match, bump, load_pair, module
from trialwatch.diff import Change
from trialwatch.registries.ctgov.differ import diff_records

ARDA = "constructed/NCT05225675.json"
INTERVENTIONS = "protocolSection.armsInterventionsModule.interventions"


def _interventions(record: dict[str, Any]) -> list[dict[str, Any]]:
    found = module(record, "armsInterventionsModule")["interventions"]
    assert isinstance(found, list)
    return found


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = diff_records(old, new)
    assert_values_match(old, new, changes)
    return [change for change in changes if change.significance != "noise"]


def test_it_reports_a_renamed_intervention_once() -> None:
    """ARGX-117 listed under its INN, the code kept as another name: renamed, not new."""
    old, new = load_pair(ARDA)
    drug = _interventions(new)[0]
    drug.update(name="Empasiprubart", otherNames=["ARGX-117"])
    bump(new)
    assert _diff(old, new) == [
        Change(
            "intervention_renamed",
            f"{INTERVENTIONS}[DRUG|Empasiprubart]",
            _interventions(old)[0],
            drug,
            "Intervention renamed: ARGX-117 → Empasiprubart",
            "minor",
        )
    ]


def test_it_pairs_a_rename_by_shared_other_names() -> None:
    """A new code name with the same other name is the same drug."""
    old, new = load_pair(ARDA)
    _interventions(new)[0]["name"] = "ARGX-117 (empasiprubart) IV"
    [change] = _diff(old, new)
    assert (change.kind, change.summary) == (
        "intervention_renamed",
        "Intervention renamed: ARGX-117 → ARGX-117 (empasiprubart) IV",
    )


def test_it_keeps_a_different_drug_a_new_intervention() -> None:
    """Placebo replaced by IVIg shares no name: one added, one removed."""
    old, new = load_pair(ARDA)
    _interventions(new)[1] = {"type": "DRUG", "name": "IVIg", "otherNames": ["Privigen"]}
    assert [c.summary for c in _diff(old, new)] == [
        "New intervention: IVIg (drug)",
        "Intervention removed: Placebo (drug)",
    ]


def test_it_says_which_other_name_an_intervention_gained() -> None:
    """otherNames gaining empasiprubart reads as "also known as"; losing one says so."""
    old, new = load_pair(ARDA)
    del _interventions(old)[0]["otherNames"]
    [change] = _diff(old, new)
    assert (change.kind, change.summary, change.significance) == (
        "intervention_changed",
        "ARGX-117: also known as empasiprubart",
        "minor",
    )
    [change] = _diff(new, old)
    assert change.summary == "ARGX-117: no longer also known as empasiprubart"


def test_it_keeps_the_plain_summary_for_other_intervention_edits() -> None:
    """A new description is an update of the intervention."""
    old, new = load_pair(ARDA)
    _interventions(new)[1]["description"] = "Intravenous infusion of saline"
    [change] = _diff(old, new)
    assert change.summary == "Intervention updated: Placebo (drug)"
