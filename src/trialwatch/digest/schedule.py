"""When a subscription's digest is due (pure: the clock is passed in)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from trialwatch.vocab import FREQUENCIES

# A little slack so that a job scheduled at the same time every day is not a few
# seconds early for yesterday's digest.
_SLACK = timedelta(hours=1)
# Clocks of replicas differ by seconds; a last digest further ahead than this was
# written by a clock that was wrong.
_AHEAD = timedelta(minutes=1)


def is_due(frequency: str, last_digest_at: datetime | None, now: datetime, timezone: str) -> bool:
    """Whether a digest may be built now.

    ``immediate``: always (after every sync). ``daily``: once per calendar day in the
    subscriber's time zone. ``weekly``: when at least a week (less an hour) has passed.
    The first digest is always due, and so is one whose last digest lies in the future.
    """
    if frequency not in FREQUENCIES:
        raise ValueError(f"unknown frequency {frequency!r}")
    if frequency == "immediate" or last_digest_at is None:
        return True
    if last_digest_at > now + _AHEAD:  # written by a clock that was ahead: no date to wait for
        return True
    if frequency == "daily":
        zone = ZoneInfo(timezone)
        return now.astimezone(zone).date() > last_digest_at.astimezone(zone).date() and (
            now - last_digest_at >= timedelta(hours=12)
        )
    return now - last_digest_at >= timedelta(days=7) - _SLACK
