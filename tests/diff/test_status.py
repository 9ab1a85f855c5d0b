"""Expanded access, the last known status, and primary completion slipping."""

from __future__ import annotations

from typing import Any

import pytest

from tests.diff.conftest import assert_values_match, bump, load_pair, module, not_noise, of_kind
from trialwatch.diff import Change
from trialwatch.registries.ctgov.differ import diff_records

ARDA = "constructed/NCT05225675.json"
AXSPA = "NCT02552212.json"  # has expanded access NCT03559686, AVAILABLE
UNKNOWN = "NCT03475563.json"  # UNKNOWN, last known RECRUITING
STATUS = "protocolSection.statusModule"


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = diff_records(old, new)
    assert_values_match(old, new, changes)
    return changes


def test_it_flags_expanded_access_becoming_available() -> None:
    """hasExpandedAccess false -> true is major, naming the expanded access record."""
    new, old = load_pair(AXSPA)
    module(old, "statusModule")["expandedAccessInfo"] = {"hasExpandedAccess": False}
    bump(new)
    [change] = not_noise(_diff(old, new))
    assert change == Change(
        "expanded_access",
        f"{STATUS}.expandedAccessInfo",
        {"hasExpandedAccess": False},
        {"hasExpandedAccess": True, "nctId": "NCT03559686", "statusForNctId": "AVAILABLE"},
        "Expanded access available (NCT03559686)",
        "major",
    )


def test_it_flags_expanded_access_ending() -> None:
    """true -> false is major too; without an NCT ID the line is plain."""
    old, new = load_pair(ARDA)
    module(old, "statusModule")["expandedAccessInfo"]["hasExpandedAccess"] = True
    change = of_kind(_diff(old, new), "expanded_access")
    assert (change.summary, change.significance) == ("Expanded access no longer available", "major")
    assert of_kind(_diff(new, old), "expanded_access").summary == "Expanded access available"


@pytest.mark.parametrize(
    ("status", "summary", "significance"),
    [
        ("NO_LONGER_AVAILABLE", "Expanded access: Available → No longer available", "minor"),
        (
            "TEMPORARILY_NOT_AVAILABLE",
            "Expanded access: Available → Temporarily not available",
            "minor",
        ),
    ],
)
def test_it_reports_the_expanded_access_status(
    status: str, summary: str, significance: str
) -> None:
    """The expanded access record's status changing: major only when it becomes available."""
    old, new = load_pair(AXSPA)
    module(new, "statusModule")["expandedAccessInfo"]["statusForNctId"] = status
    change = of_kind(_diff(old, new), "expanded_access")
    assert (change.summary, change.significance) == (summary, significance)
    change = of_kind(_diff(new, old), "expanded_access")
    assert change.significance == "major"


def test_it_leaves_a_new_expanded_access_id_alone_as_noise() -> None:
    """Only the linked NCT ID changing is bookkeeping."""
    old, new = load_pair(AXSPA)
    module(new, "statusModule")["expandedAccessInfo"]["nctId"] = "NCT09999999"
    [change] = _diff(old, new)
    assert (change.kind, change.significance) == ("other", "noise")


def test_it_shows_the_last_known_status_with_unknown() -> None:
    """A recruiting study gone unverified: Unknown status, with what it last was."""
    new, old = load_pair(UNKNOWN)
    module(old, "statusModule")["overallStatus"] = "RECRUITING"
    del module(old, "statusModule")["lastKnownStatus"]
    assert not_noise(_diff(old, new)) == [
        Change(
            "overall_status",
            f"{STATUS}.overallStatus",
            "RECRUITING",
            "UNKNOWN",
            "Status: Recruiting → Unknown status (last known: Recruiting)",
            "major",
        )
    ]
    [back] = not_noise(_diff(new, old))
    assert back.summary == "Status: Unknown status → Recruiting"


def test_it_reports_a_corrected_last_known_status_as_minor() -> None:
    """Still UNKNOWN, last known now Active, not recruiting."""
    old, new = load_pair(UNKNOWN)
    module(new, "statusModule")["lastKnownStatus"] = "ACTIVE_NOT_RECRUITING"
    [change] = _diff(old, new)
    assert (change.kind, change.summary, change.significance) == (
        "overall_status",
        "Last known status: Recruiting → Active, not recruiting",
        "minor",
    )


@pytest.mark.parametrize(
    ("before", "after", "summary", "significance"),
    [
        (
            {"date": "2025-06", "type": "ESTIMATED"},
            {"date": "2026-06", "type": "ESTIMATED"},
            "Primary completion: expected June 2025 → expected June 2026",
            "major",
        ),
        (
            {"date": "2025-06-30", "type": "ESTIMATED"},
            {"date": "2025-09-28", "type": "ESTIMATED"},
            "Primary completion: expected June 2025 → expected September 2025",
            "major",
        ),
        (
            {"date": "2025-06-30", "type": "ESTIMATED"},
            {"date": "2025-09-27", "type": "ESTIMATED"},
            "Primary completion: expected June 2025 → expected September 2025",
            "minor",
        ),
        (
            {"date": "2026-06", "type": "ESTIMATED"},
            {"date": "2025-12-01", "type": "ACTUAL"},
            "Primary completion: expected June 2026 → actual December 2025",
            "major",
        ),
        (
            None,
            {"date": "2026-06", "type": "ESTIMATED"},
            "Primary completion: expected June 2026",
            "minor",
        ),
    ],
)
def test_it_flags_primary_completion_moving_three_months_or_more(
    before: Any, after: Any, summary: str, significance: str
) -> None:
    """A slip (or advance) of 90 days or more is major: a patient waiting on it should know."""
    old, new = load_pair(ARDA)
    status = module(old, "statusModule")
    if before is None:
        del status["primaryCompletionDateStruct"]
    else:
        status["primaryCompletionDateStruct"] = before
    module(new, "statusModule")["primaryCompletionDateStruct"] = after
    change = of_kind(_diff(old, new), "primary_completion_date")
    assert (change.summary, change.significance) == (summary, significance)


def test_it_keeps_other_dates_minor_however_far_they_move() -> None:
    """The completion date moving a year is minor (only the primary completion is major)."""
    old, new = load_pair(ARDA)
    module(new, "statusModule")["completionDateStruct"]["date"] = "2027-06-30"
    assert of_kind(_diff(old, new), "completion_date").significance == "minor"
