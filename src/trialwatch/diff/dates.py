"""Arithmetic on the partial dates registries give (``yyyy-MM`` or ``yyyy-MM-dd``)."""

from __future__ import annotations

import datetime
from typing import Any

from trialwatch.words.terms import PARTIAL_DATE


def days_between(old: Any, new: Any) -> int | None:
    """Days from one partial date to another (a month alone counts as its first day).

    ``None`` when either is not such a date.

    >>> days_between("2024-10", "2025-01-31")
    122
    """
    dates = []
    for value in (old, new):
        found = PARTIAL_DATE.fullmatch(value) if isinstance(value, str) else None
        if found is None:
            return None
        year, month, day = found.groups()
        try:
            dates.append(datetime.date(int(year), int(month), int(day or 1)))
        except ValueError:
            return None
    return (dates[1] - dates[0]).days
