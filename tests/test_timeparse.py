"""``--since`` values: dates and durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trialwatch.errors import ConfigError
from trialwatch.timeparse import parse_since

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_since_accepts_dates_and_durations() -> None:
    """7d, 24h, 2w and ISO dates; anything else is a one-line error."""
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since("24h", NOW) == NOW - timedelta(hours=24)
    assert parse_since("2w", NOW) == NOW - timedelta(weeks=2)
    assert parse_since("2026-11-01", NOW) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="--since: 'yesterday'"):
        parse_since("yesterday", NOW)
