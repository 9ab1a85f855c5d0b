"""``--since`` values: an ISO date or a duration (``7d``, ``24h``, ``2w``) before ``now``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from trialwatch.errors import ConfigError

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


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


def parse_duration(value: str, option: str) -> timedelta:
    """``"10m"`` -> 10 minutes; also ``1s``, ``24h``, ``90d``, ``2w``; a bare number: seconds."""
    text = value.strip().lower()
    try:
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return timedelta(seconds=float(text))
        match = _DURATION.match(text)
        if match:
            return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError as exc:
        raise ConfigError(f"{option}: '{value}' is too long a duration") from exc
    raise ConfigError(f"{option}: '{value}' is not a duration (30s, 10m, 24h, 90d, 2w)")
