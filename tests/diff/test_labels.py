"""Enum and date words, keyed-list labels and field paths."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from tests.diff.conftest import load_pair, module
from trialwatch.diff.keys import canonical, keyed, safe_key, site_label
from trialwatch.diff.lists import conditions_change, item_changes, match
from trialwatch.registries.ctgov.differ import diff_records, value_at
from trialwatch.registries.ctgov.differ.contacts import CONTACTS
from trialwatch.registries.ctgov.differ.keys import contact_label
from trialwatch.words.terms import (
    age_words,
    clip,
    date_type_words,
    date_words,
    intervention_type_words,
    join_words,
    phases_words,
    sex_words,
    status_words,
    std_ages_words,
)

STATUS_CASES = {
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "RECRUITING": "Recruiting",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation",
    "ACTIVE_NOT_RECRUITING": "Active, not recruiting",
    "SUSPENDED": "Suspended",
    "TERMINATED": "Terminated",
    "COMPLETED": "Completed",
    "WITHDRAWN": "Withdrawn",
    "UNKNOWN": "Unknown status",
    "AVAILABLE": "Available",
    "NO_LONGER_AVAILABLE": "No longer available",
    "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
    "APPROVED_FOR_MARKETING": "Approved for marketing",
    "WITHHELD": "Withheld",
}


@pytest.mark.parametrize(("code", "words"), STATUS_CASES.items())
def test_it_words_every_status_as_the_registry_does(code: str, words: str) -> None:
    """Each overallStatus enum value has the registry's label."""
    assert status_words(code) == words


def test_it_words_unknown_codes_readably() -> None:
    """A code no table knows is shown from the code; absent is 'not given'."""
    assert status_words("PAUSED_FOR_REVIEW") == "Paused for review"
    assert status_words(None) == "not given"
    assert status_words(["RECRUITING"]) == "['recruiting']"
    assert sex_words("MALE") == "Male"


@pytest.mark.parametrize(
    ("phases", "words"),
    [
        (["PHASE2"], "Phase 2"),
        (["EARLY_PHASE1"], "Early Phase 1"),
        (["NA"], "Not applicable"),
        (["PHASE4", "PHASE1"], "Phase 1/Phase 4"),
        (["PHASE5", "PHASE3"], "Phase 3/Phase5"),
        ([], "not given"),
        (None, "not given"),
        ("PHASE2", "Phase2"),
        ([{"x": 1}], "{'x': 1}"),
    ],
)
def test_it_words_phases(phases: Any, words: str) -> None:
    """Phases in phase order, joined by a slash."""
    assert phases_words(phases) == words


def test_it_words_age_groups_and_ages() -> None:
    """Age groups in life order; ages in lower case."""
    assert std_ages_words(["OLDER_ADULT", "CHILD"]) == "Child, Older adult"
    assert age_words("18 Years", "none") == "18 years"
    assert age_words(None, "no limit") == "no limit"


@pytest.mark.parametrize(
    ("date", "with_day", "words"),
    [
        ("2025-03", False, "March 2025"),
        ("2025-03-15", False, "March 2025"),
        ("2025-03-05", True, "5 March 2025"),
        ("2025-03", True, "March 2025"),
        ("2025", False, "2025"),
        ("2025-13", False, "2025-13"),
        ("March 2025", False, "March 2025"),
        ("25-03", False, "25-03"),
        ("2025-03-15-01", False, "2025-03-15-01"),
        (None, False, "not given"),
    ],
)
def test_it_words_partial_dates(date: str | None, with_day: bool, words: str) -> None:
    """yyyy, yyyy-MM and yyyy-MM-dd become month words; anything else stays as it is."""
    assert date_words(date, with_day=with_day) == words


def test_it_words_date_types_and_intervention_types() -> None:
    """ESTIMATED is 'expected', ACTUAL 'actual'; intervention types in lower case."""
    assert date_type_words("ESTIMATED") == "expected"
    assert date_type_words("ACTUAL") == "actual"
    assert date_type_words(None) == ""
    assert intervention_type_words("DIAGNOSTIC_TEST") == "diagnostic test"
    assert intervention_type_words("NEW_TYPE") == "new type"


def test_it_clips_text_between_words_when_it_can() -> None:
    """Cut at a space in the last third, else mid-word; always with an ellipsis."""
    assert clip("short", 10) == "short"
    assert clip("one two three four", 12) == "one two…"
    assert clip("abcdefghijklmnop", 8) == "abcdefg…"


def test_it_joins_words_within_a_limit() -> None:
    """Items past the limit become 'and N more'; if none fits, just the count."""
    assert join_words(["a", "b", "c"], 20) == "a, b, c"
    assert join_words(["alpha", "beta", "gamma"], 17) == "alpha and 2 more"
    assert join_words(["a" * 30], 10) == "1 items"


def test_it_labels_items_by_key() -> None:
    """Sites by place fields, contacts by name else e-mail else phone."""
    site = {"facility": " Mayo  Clinic ", "city": "Rochester", "zip": "55905", "country": "US"}
    assert site_label(site) == "Mayo Clinic|Rochester|55905|US"
    assert site_label({"geoPoint": "n/a"}) == ""
    assert contact_label({"phone": "123"}) == "123"
    assert contact_label({"email": "a@b.c", "phone": "123"}) == "a@b.c"


def test_it_numbers_duplicates_around_existing_labels() -> None:
    """A duplicate's #2 is skipped when another item already has that label."""
    items = [{"label": "A"}, {"label": "A", "x": 1}, {"label": "A#2"}]
    index = keyed(items, lambda item: str(item["label"]))
    assert index is not None
    assert sorted(index) == ["a", "a#2", "a#3"]
    assert index["a"] == ("A", {"label": "A", "x": 1})
    assert index["a#3"] == ("A#3", {"label": "A"})
    assert keyed([{"label": "A"}, "B"], lambda item: "") is None


def test_it_keys_any_mapping_not_only_dicts() -> None:
    """Items may be read-only mappings; they are keyed the slow, general way."""
    item = MappingProxyType({"facility": "Clinic", "city": "Lyon", "country": "France"})
    assert keyed([item], site_label) == {"clinic|lyon|france": ("Clinic|Lyon|France", item)}


def test_it_makes_canonical_bytes_for_anything() -> None:
    """JSON values by sorted keys; other values by repr."""
    assert canonical({"b": 1, "a": 2}) == canonical({"a": 2, "b": 1})
    assert canonical({1: "x"}) == b"{1: 'x'}"


def test_it_resolves_field_paths() -> None:
    """value_at follows dots and keyed labels; anything unresolvable is None."""
    old, _ = load_pair("constructed/NCT05225675.json")
    locations = "protocolSection.contactsLocationsModule.locations"
    assert value_at(old, "") is old
    assert value_at(old, "protocolSection.statusModule.overallStatus") == "ACTIVE_NOT_RECRUITING"
    assert value_at(old, f"{locations}[investigator SITE|Leuven|Belgium]")["city"] == "Leuven"
    assert value_at(old, f"{locations}[Nowhere]") is None
    assert value_at(old, "protocolSection.statusModule.overallStatus.deeper") is None
    assert value_at(old, "protocolSection.statusModule[x]") is None
    assert value_at(old, "protocolSection.conditionsModule.conditions[x]") is None
    assert value_at(None, "protocolSection") is None
    assert [safe_key(key) for key in ("a", "a.b", "a[0]", "", 1)] == [
        True,
        False,
        False,
        False,
        False,
    ]


def test_it_leaves_odd_list_values_to_the_generic_change() -> None:
    """A keyed list that is not a list, or a condition list that is not one, is not read."""
    assert match("x", [], site_label) is None
    assert item_changes("p", None, [], contact_label, CONTACTS) is None
    assert [c.summary for c in conditions_change("p", "Asthma", ["Asthma"]) or []] == [
        "Conditions: added Asthma"
    ]
    assert [c.summary for c in conditions_change("p", ["A", "A"], ["A"]) or []] == [
        "Conditions updated"
    ]
    assert conditions_change("p", ["A", "B"], ["B", "A"]) == []


def test_it_descends_to_the_single_nested_field_that_changed() -> None:
    """An edit deep in a module outside the vocabulary is named at its own path."""
    old, new = load_pair("constructed/NCT05225675.json")
    module(new, "designModule")["designInfo"]["maskingInfo"]["masking"] = "DOUBLE"
    [change] = diff_records(old, new)
    assert (change.field, change.old, change.new) == (
        "protocolSection.designModule.designInfo.maskingInfo.masking",
        "QUADRUPLE",
        "DOUBLE",
    )
    assert change.summary == "Study design details updated"


def test_it_names_items_without_a_name() -> None:
    """Arms, interventions and contacts without their naming field still read."""
    old, new = load_pair("constructed/NCT05225675.json")
    arms = module(new, "armsInterventionsModule")
    arms["armGroups"] = [{"type": "OTHER"}]
    arms["interventions"].append({"description": "unnamed"})
    module(new, "contactsLocationsModule")["centralContacts"] = [{"role": "CONTACT"}]
    assert [c.summary for c in diff_records(old, new)] == [
        'New arm: ""',
        "New intervention: unnamed",
        "New contact: unnamed",
    ]
