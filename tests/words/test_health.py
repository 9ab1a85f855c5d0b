"""The health check's words: spans, moments and subjects in English."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from trialwatch.words import health as words


def test_a_span_is_told_in_days_hours_or_minutes() -> None:
    """From 48 hours in days, from one hour in hours, else in minutes."""
    assert words.duration(timedelta(days=3, hours=5)) == "3 days"
    assert words.duration(timedelta(hours=47)) == "47 hours"
    assert words.duration(timedelta(hours=1)) == "1 hour"
    assert words.duration(timedelta(seconds=90)) == "1 minute"
    assert words.duration(timedelta(seconds=-5)) == "0 minutes"


def test_a_moment_is_told_in_utc() -> None:
    """Any time zone in, a UTC day and time out."""
    assert words.when(datetime(2025, 3, 14, 9, 30, tzinfo=UTC)) == "14 March 2025, 09:30 UTC"


def test_each_kind_has_its_subject_and_an_unknown_kind_is_its_code() -> None:
    """A watchlist's alert names its slug; a kind without words reads as its code."""
    assert words.title("stale", "mmn") == "no recent sync of watchlist mmn"
    assert words.title("no_such_kind") == "no_such_kind"


def test_a_drop_compares_the_newest_listing_with_the_one_before() -> None:
    """The detail names both runs and what each found."""
    at = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
    newest = words.Listing(run_id=7, at=at, listed=0)
    before = words.Listing(run_id=6, at=at - timedelta(days=1), listed=12)
    text = words.dropped("MMN (mmn)", newest=newest, reference=before, holds=True)
    assert "saw 0 studies (run 7, 14 March 2025, 09:30 UTC)" in text
    assert "run 6, 13 March 2025, 09:30 UTC saw 12" in text
