"""The one vocabulary, in codes: statuses, terms, significance, frequencies, states.

Every module that names an overall status, a significance, a digest frequency or
a subscriber state takes its code from here, so each is written once. Their words
(labels, explanations) are in :mod:`trialwatch.words`.

- :data:`STATUS_CODES`: every ``overallStatus`` value of the API, in the order of a
  study's life. A site's status (:data:`SITE_STATUSES`, the ``RecruitmentStatus``
  enum) is one of them too.
- :data:`TERM_KEYS`: the registry terms a digest may explain.
- :data:`SIGNIFICANCES`: ``major`` / ``minor`` / ``noise`` and their rank;
  :data:`MAILED_SIGNIFICANCES` are the levels a subscriber may choose.
- :data:`FREQUENCIES` and :data:`SUBSCRIBER_STATES`.

Pure data and lookups: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

STATUS_CODES: tuple[str, ...] = (
    "NOT_YET_RECRUITING",
    "RECRUITING",
    "ENROLLING_BY_INVITATION",
    "ACTIVE_NOT_RECRUITING",
    "SUSPENDED",
    "TERMINATED",
    "COMPLETED",
    "WITHDRAWN",
    "UNKNOWN",
    "AVAILABLE",
    "NO_LONGER_AVAILABLE",
    "TEMPORARILY_NOT_AVAILABLE",
    "APPROVED_FOR_MARKETING",
    "WITHHELD",
)
"""Every ``overallStatus`` value of the API (OpenAPI ``Status`` enum), in the order of a
study's life (the order of the glossary at the foot of a digest)."""

OVERALL_STATUSES: frozenset[str] = frozenset(STATUS_CODES)

SITE_STATUSES: frozenset[str] = frozenset(
    {
        "ACTIVE_NOT_RECRUITING",
        "COMPLETED",
        "ENROLLING_BY_INVITATION",
        "NOT_YET_RECRUITING",
        "RECRUITING",
        "SUSPENDED",
        "TERMINATED",
        "WITHDRAWN",
        "AVAILABLE",
    }
)
"""The API's ``RecruitmentStatus`` enum: the statuses a site can have, all overall statuses too."""

TERM_KEYS: tuple[str, ...] = (
    "phase",
    "enrollment",
    "expected",
    "primary_completion",
    "eligibility",
    "results",
)
"""The registry terms a digest may explain, in the order of its glossary."""


Significance = Literal["major", "minor", "noise"]
MailedSignificance = Literal["major", "minor"]
"""The levels a subscriber chooses from: noise is stored, never mailed."""

SIGNIFICANCE_RANK: Mapping[Significance, int] = MappingProxyType(
    {"major": 2, "minor": 1, "noise": 0}
)
SIGNIFICANCES: tuple[Significance, ...] = ("major", "minor", "noise")
MAILED_SIGNIFICANCES: tuple[MailedSignificance, ...] = ("major", "minor")


def at_least(level: str) -> tuple[Significance, ...]:
    """The significances at ``level`` or above: ``at_least("minor")`` -> major, minor."""
    rank = next((SIGNIFICANCE_RANK[s] for s in SIGNIFICANCES if s == level), None)
    if rank is None:
        raise ValueError(f"unknown significance {level!r} (one of {', '.join(SIGNIFICANCES)})")
    return tuple(s for s in SIGNIFICANCES if SIGNIFICANCE_RANK[s] >= rank)


Frequency = Literal["immediate", "daily", "weekly"]
FREQUENCIES: tuple[Frequency, ...] = ("immediate", "daily", "weekly")

SubscriberState = Literal["pending", "active", "unsubscribed", "bounced"]
SUBSCRIBER_STATES: tuple[SubscriberState, ...] = ("pending", "active", "unsubscribed", "bounced")


__all__ = [
    "FREQUENCIES",
    "MAILED_SIGNIFICANCES",
    "OVERALL_STATUSES",
    "SIGNIFICANCES",
    "SIGNIFICANCE_RANK",
    "SITE_STATUSES",
    "STATUS_CODES",
    "SUBSCRIBER_STATES",
    "TERM_KEYS",
    "Frequency",
    "MailedSignificance",
    "Significance",
    "SubscriberState",
    "at_least",
]
