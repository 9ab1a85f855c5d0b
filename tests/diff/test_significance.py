"""What a subscriber with the default settings (major changes only) hears about."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.diff.conftest import bump, load_pair, load_record, module, not_noise
from trialwatch.registries.ctgov.differ import diff_records
from trialwatch.services.subscriptions import Preferences

ARDA = "constructed/NCT05225675.json"
Record = dict[str, Any]


def _reopen_site(old: Record, new: Record) -> None:
    module(new, "contactsLocationsModule")["locations"][2]["status"] = "RECRUITING"


def _site_back_on_list(old: Record, new: Record) -> None:
    del module(old, "contactsLocationsModule")["locations"][1]
    module(new, "contactsLocationsModule")["locations"][1]["status"] = "RECRUITING"


def _results(old: Record, new: Record) -> None:
    new["hasResults"] = True


def _expanded_access(old: Record, new: Record) -> None:
    module(new, "statusModule")["expandedAccessInfo"]["hasExpandedAccess"] = True


def _exclusion(old: Record, new: Record) -> None:
    criteria = module(new, "eligibilityModule")
    criteria["eligibilityCriteria"] += "\n* IVIg within 12 weeks before screening"


def _status(old: Record, new: Record) -> None:
    module(new, "statusModule")["overallStatus"] = "RECRUITING"


def _slip(old: Record, new: Record) -> None:
    module(old, "statusModule")["primaryCompletionDateStruct"] = {
        "date": "2026-01",
        "type": "ESTIMATED",
    }
    module(new, "statusModule")["primaryCompletionDateStruct"] = {
        "date": "2027-01",
        "type": "ESTIMATED",
    }


PATIENT_NEEDS: dict[str, Callable[[Record, Record], None]] = {
    "status change": _status,
    "site re-opening": _reopen_site,
    "site back on the list, recruiting": _site_back_on_list,
    "results": _results,
    "expanded access": _expanded_access,
    "eligibility criteria": _exclusion,
    "primary completion a year later": _slip,
}


def test_the_default_subscription_is_major_changes_only() -> None:
    """The premise of these tests: a default subscriber gets major changes only."""
    assert Preferences(watchlists=("mmn",)).significance == "major"


def test_a_new_trial_is_major() -> None:
    """A trial seen for the first time."""
    [change] = diff_records(None, load_record(ARDA))
    assert change.significance == "major"


@pytest.mark.parametrize("edit", PATIENT_NEEDS.values(), ids=PATIENT_NEEDS.keys())
def test_what_a_patient_needs_is_major(edit: Callable[[Record, Record], None]) -> None:
    """Each edit a patient must hear of yields one mailed change, and it is major."""
    old, new = load_pair(ARDA)
    edit(old, new)
    bump(new)
    [change] = not_noise(diff_records(old, new))
    assert change.significance == "major", change


def test_small_moves_stay_out_of_the_default() -> None:
    """A month's delay, a site closing, a contact's phone: minor, so the default stays quiet."""
    old, new = load_pair(ARDA)
    module(new, "statusModule")["completionDateStruct"]["date"] = "2026-07-31"
    module(new, "statusModule")["primaryCompletionDateStruct"]["date"] = "2024-12-15"
    module(new, "contactsLocationsModule")["locations"][0]["status"] = "COMPLETED"
    assert {c.significance for c in not_noise(diff_records(old, new))} == {"minor"}
