"""Eligibility criteria: the lines added and removed, under their heading, and major."""

from __future__ import annotations

from typing import Any

from tests.diff.conftest import assert_values_match, bump, load_pair, module, not_noise, of_kind
from trialwatch.diff import Change
from trialwatch.registries.ctgov.differ import diff_records
from trialwatch.registries.ctgov.differ.criteria import criteria_lines

ARDA = "constructed/NCT05225675.json"
PEDIATRIC = "NCT04431453.json"  # "Key Inclusion Criteria:", nested a) b) c) bullets, escapes
SPAIN = "NCT03475563.json"
FIELD = "protocolSection.eligibilityModule.eligibilityCriteria"


def _criteria(record: dict[str, Any]) -> str:
    text = module(record, "eligibilityModule")["eligibilityCriteria"]
    assert isinstance(text, str)
    return text


def _set(record: dict[str, Any], text: str) -> None:
    module(record, "eligibilityModule")["eligibilityCriteria"] = text


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = diff_records(old, new)
    assert_values_match(old, new, changes)
    return changes


def test_it_names_a_new_exclusion_line() -> None:
    """The MMN case: a new exclusion an IVIg-treated patient must see, as a major change."""
    old, new = load_pair(ARDA)
    _set(new, _criteria(new) + "\n* IVIg within 12 weeks before screening")
    bump(new)
    assert not_noise(_diff(old, new)) == [
        Change(
            "eligibility_criteria",
            FIELD,
            _criteria(old),
            _criteria(new),
            "New exclusion: IVIg within 12 weeks before screening",
            "major",
        )
    ]


def test_it_names_lines_added_and_removed_in_their_sections() -> None:
    """An inclusion line reworded and an exclusion dropped, in a real record's criteria."""
    old, new = load_pair(SPAIN)
    text = _criteria(new).replace("* Age over 18 years.", "* Age 18 to 80 years.")
    _set(new, text.replace("* Lesions due to restenosis.\n", ""))
    change = of_kind(_diff(old, new), "eligibility_criteria")
    assert change.summary == (
        "New inclusion: Age 18 to 80 years.; Inclusion removed: Age over 18 years.;"
        " Exclusion removed: Lesions due to restenosis."
    )
    assert change.significance == "major"


def test_it_shows_a_few_lines_then_how_many_more() -> None:
    """Many new lines: as many as fit in the line, then "and N more"."""
    old, new = load_pair(SPAIN)
    extra = "".join(f"\n* Prior stent {i}." for i in range(6))
    _set(new, _criteria(new) + extra)
    change = of_kind(_diff(old, new), "eligibility_criteria")
    assert change.summary == (
        "New exclusion: Prior stent 0.; New exclusion: Prior stent 1.;"
        " New exclusion: Prior stent 2.; and 3 more"
    )
    assert len(change.summary) <= 120


def test_it_reads_key_headings_nested_bullets_and_escapes() -> None:
    """ "Key Exclusion Criteria:", "* a) Cohort 1: …" and "\\<" read as plain lines."""
    old, new = load_pair(PEDIATRIC)
    text = _criteria(new).replace(
        "  * f) Cohort 8: \\< 12 years of age and weight at screening ≥ 40 kg\n", ""
    )
    _set(new, text)
    change = of_kind(_diff(old, new), "eligibility_criteria")
    assert change.summary == (
        "Inclusion removed: Cohort 8: < 12 years of age and weight at screening ≥ 40 kg"
    )
    _set(new, _criteria(old) + "\n* Known allergy to remdesivir.")
    change = of_kind(_diff(old, new), "eligibility_criteria")
    assert change.summary == "New exclusion: Known allergy to remdesivir."


def test_it_reports_reformatting_alone_as_noise() -> None:
    """Bullets to numbers, other spacing and line breaks, a final full stop: nothing new."""
    old, new = load_pair(SPAIN)
    lines = _criteria(new).splitlines()
    numbered = [
        f"{i}.  {line[2:]}" if line.startswith("* ") else line for i, line in enumerate(lines)
    ]
    _set(new, "\n\n".join(numbered).replace("Cardiogenic shock.", "cardiogenic shock"))
    [change] = _diff(old, new)
    assert (change.kind, change.summary, change.significance) == (
        "eligibility_criteria",
        "Eligibility criteria reformatted",
        "noise",
    )


def test_it_reports_criteria_appearing_as_major() -> None:
    """Criteria where there were none are added (major), and removed the other way."""
    old, new = load_pair(ARDA)
    del module(old, "eligibilityModule")["eligibilityCriteria"]
    change = of_kind(_diff(old, new), "eligibility_criteria")
    assert (change.summary, change.significance) == ("Eligibility criteria added", "major")


def test_it_splits_criteria_into_sectioned_lines() -> None:
    """Lines before any heading have no section; headings are not lines."""
    assert criteria_lines(
        "Adults\n\nInclusion Criteria:\n\n1) MMN\n2. ii) CIDP\nEXCLUSION:\n- ALS"
    ) == [
        ("", "Adults"),
        ("inclusion", "MMN"),
        ("inclusion", "CIDP"),
        ("exclusion", "ALS"),
    ]
