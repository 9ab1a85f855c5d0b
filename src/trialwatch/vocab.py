"""The one vocabulary: registry statuses in words, significance, frequencies, states.

Every module that names an overall status, a significance, a digest frequency or
a subscriber state takes it from here, so each is written once:

- :data:`STATUSES`: every ``overallStatus`` value of the API (OpenAPI ``Status``
  enum) with its label as ClinicalTrials.gov shows it and a one-sentence
  explanation for readers who are not researchers, in the order of a study's life
  (the order of the glossary at the foot of a digest).
- :data:`SIGNIFICANCES`: ``major`` / ``minor`` / ``noise`` and their rank;
  :data:`MAILED_SIGNIFICANCES` are the levels a subscriber may choose.
- :data:`FREQUENCIES` and :data:`SUBSCRIBER_STATES`.

Pure data and lookups: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal


@dataclass(frozen=True)
class StatusInfo:
    """An overall status in words: its API code, label and plain-language meaning."""

    code: str
    label: str
    explanation: str | None
    """``None`` for a status the glossary does not know (a new API value)."""


def _entry(code: str, label: str, explanation: str) -> tuple[str, StatusInfo]:
    return code, StatusInfo(code=code, label=label, explanation=explanation)


STATUSES: Mapping[str, StatusInfo] = MappingProxyType(
    dict(
        [
            _entry(
                "NOT_YET_RECRUITING",
                "Not yet recruiting",
                "The study is planned but has not started looking for participants.",
            ),
            _entry(
                "RECRUITING",
                "Recruiting",
                "The study is looking for participants now.",
            ),
            _entry(
                "ENROLLING_BY_INVITATION",
                "Enrolling by invitation",
                "The study only takes people the researchers invite, for example from"
                " an earlier study; you cannot apply to join it.",
            ),
            _entry(
                "ACTIVE_NOT_RECRUITING",
                "Active, not recruiting",
                "The study is going on and its participants are being treated or"
                " followed up, but it is not taking new participants.",
            ),
            _entry(
                "SUSPENDED",
                "Suspended",
                "The study has paused early and may start again.",
            ),
            _entry(
                "TERMINATED",
                "Terminated",
                "The study stopped early and will not start again.",
            ),
            _entry(
                "COMPLETED",
                "Completed",
                "The study has ended as planned; results may be posted later.",
            ),
            _entry(
                "WITHDRAWN",
                "Withdrawn",
                "The study stopped before anyone took part in it.",
            ),
            _entry(
                "UNKNOWN",
                "Unknown status",
                "The study was open or about to open, but its expected end date has"
                " passed and nobody has updated its status for more than two years.",
            ),
            _entry(
                "AVAILABLE",
                "Available",
                "The treatment can be requested outside a trial (expanded access),"
                " usually through a treating doctor.",
            ),
            _entry(
                "NO_LONGER_AVAILABLE",
                "No longer available",
                "The treatment was available outside a trial but is not any more.",
            ),
            _entry(
                "TEMPORARILY_NOT_AVAILABLE",
                "Temporarily not available",
                "The treatment cannot be requested outside a trial right now, but"
                " should be again later.",
            ),
            _entry(
                "APPROVED_FOR_MARKETING",
                "Approved for marketing",
                "The treatment has been approved by the US Food and Drug"
                " Administration and can be prescribed.",
            ),
            _entry(
                "WITHHELD",
                "Withheld",
                "The sponsor has not made the availability of this treatment public.",
            ),
        ]
    )
)

OVERALL_STATUSES: frozenset[str] = frozenset(STATUSES)


def status_label(code: str) -> str:
    """``"RECRUITING"`` -> ``"Recruiting"``; an unknown code is made readable."""
    known = STATUSES.get(code)
    return known.label if known is not None else code.replace("_", " ").capitalize()


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
