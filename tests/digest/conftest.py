"""Factories and fixtures for digest tests: plain functions with defaults, overridden by keyword."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jinja2
import pytest

from trialwatch.digest import (
    ChangeItem,
    Recipient,
    StudyInfo,
    SubscriptionPrefs,
)
from trialwatch.mail.templates import make_environment

NOW = datetime(2026, 3, 12, 6, 0, tzinfo=UTC)
MMN = ("mmn", "Multifocal motor neuropathy")


def make_change(**overrides: Any) -> ChangeItem:
    """A major status change of NCT06742190 in the MMN watchlist, detected an hour before NOW."""
    fields: dict[str, Any] = {
        "change_id": 1,
        "watchlist_slug": MMN[0],
        "watchlist_name": MMN[1],
        "nct_id": "NCT06742190",
        "kind": "overall_status",
        "summary": "Status: Not yet recruiting → Recruiting",
        "significance": "major",
        "detected_at": NOW - timedelta(hours=1),
        "countries": (),
    }
    fields.update(overrides)
    return ChangeItem(**fields)


def make_study(nct_id: str = "NCT06742190", **overrides: Any) -> StudyInfo:
    """A recruiting study with a title derived from its NCT ID."""
    fields: dict[str, Any] = {
        "nct_id": nct_id,
        "title": f"Study {nct_id} of empasiprubart in multifocal motor neuropathy",
        "acronym": None,
        "overall_status": "RECRUITING",
    }
    fields.update(overrides)
    return StudyInfo(**fields)


def make_subscription(**overrides: Any) -> SubscriptionPrefs:
    """A subscription to the MMN watchlist at minor significance, nothing delivered yet."""
    fields: dict[str, Any] = {"watchlist_slug": MMN[0], "minimum_significance": "minor"}
    fields.update(overrides)
    return SubscriptionPrefs(**fields)


def make_recipient(**overrides: Any) -> Recipient:
    """Jane, with unsubscribe and manage links."""
    fields: dict[str, Any] = {
        "subscriber_id": 7,
        "email": "jane@example.org",
        "name": "Jane",
        "unsubscribe_url": "https://trialwatch.example/unsubscribe/tok",
        "manage_url": "https://trialwatch.example/manage/tok",
    }
    fields.update(overrides)
    return Recipient(**fields)


def studies_for(changes: list[ChangeItem], **overrides: Any) -> dict[str, StudyInfo]:
    """A StudyInfo for every study named in ``changes``."""
    return {c.nct_id: make_study(c.nct_id, **overrides) for c in changes}


@pytest.fixture(scope="session")
def env() -> jinja2.Environment:
    """The email environment over the repository's templates, made once."""
    return make_environment()
