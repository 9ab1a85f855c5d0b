"""``--since`` values: an ISO date or a duration (``7d``, ``24h``, ``2w``) before ``now``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from trialwatch.errors import ConfigError

_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime, option: str = "--since") -> datetime:
    """``"7d"`` -> now minus 7 days; ``"2026-11-01"`` -> that day at 00:00 UTC."""
    text = value.strip().lower()
    match = _DURATION.match(text)
    if match:
        try:
            return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError as exc:
            raise ConfigError(
                f"{option}: '{value}' reaches back before the year 1 (use a shorter duration)"
            ) from exc
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ConfigError(
            f"{option}: '{value}' is neither a date (2026-11-01) nor a duration (7d, 24h, 2w)"
        ) from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
