"""The one vocabulary: registry statuses in words, significance, frequencies, states.

Every module that names an overall status, a significance, a digest frequency or
a subscriber state takes it from here, so each is written once:

- :data:`STATUSES`: every ``overallStatus`` value of the API (OpenAPI ``Status``
  enum) with its label as ClinicalTrials.gov shows it and a one-sentence
  explanation for readers who are not researchers, in the order of a study's life
  (the order of the glossary at the foot of a digest). A site's status
  (:data:`SITE_STATUSES`, the ``RecruitmentStatus`` enum) is one of them too, so
  each explanation reads right for a trial and for one of its sites.
- :data:`TERMS`: the registry's words a digest uses (phase, enrollment, expected
  and actual, primary completion...), explained the same way.
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


@dataclass(frozen=True)
class GlossaryTerm:
    """A registry word in plain language, for the glossary at the foot of a digest."""

    key: str
    label: str
    explanation: str


def _entry(code: str, label: str, explanation: str) -> tuple[str, StatusInfo]:
    return code, StatusInfo(code=code, label=label, explanation=explanation)


STATUSES: Mapping[str, StatusInfo] = MappingProxyType(
    dict(
        [
            _entry(
                "NOT_YET_RECRUITING",
                "Not yet recruiting",
                "Not looking for participants yet: recruitment is planned but has not started.",
            ),
            _entry(
                "RECRUITING",
                "Recruiting",
                "Looking for participants now.",
            ),
            _entry(
                "ENROLLING_BY_INVITATION",
                "Enrolling by invitation",
                "Only taking people the researchers invite, for example from an"
                " earlier study; you cannot apply to join.",
            ),
            _entry(
                "ACTIVE_NOT_RECRUITING",
                "Active, not recruiting",
                "Going on: participants are being treated or followed up, but no new"
                " participants are being taken.",
            ),
            _entry(
                "SUSPENDED",
                "Suspended",
                "Paused early; it may start again.",
            ),
            _entry(
                "TERMINATED",
                "Terminated",
                "Stopped early; it will not start again.",
            ),
            _entry(
                "COMPLETED",
                "Completed",
                "Ended as planned: participants are no longer being treated or examined.",
            ),
            _entry(
                "WITHDRAWN",
                "Withdrawn",
                "Stopped before anyone took part.",
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
                " usually through a treating doctor; for a site, it can be had there.",
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
"""The API's ``RecruitmentStatus`` enum: the statuses a site can have, all in :data:`STATUSES`."""

TERMS: Mapping[str, GlossaryTerm] = MappingProxyType(
    {
        term.key: term
        for term in (
            GlossaryTerm(
                "phase",
                "Phase",
                "How far a treatment has been tested. Phase 1 trials check safety in a few"
                " people, phase 2 whether it works and at what dose, phase 3 compare it with"
                " the usual treatment in many people, and phase 4 follow it after approval.",
            ),
            GlossaryTerm(
                "enrollment",
                "Enrollment",
                "How many people take part in the trial: the number the researchers aim"
                " for (expected) until recruitment ends, then the number who joined (actual).",
            ),
            GlossaryTerm(
                "expected",
                "Expected and actual",
                "An expected date or number is the researchers' plan and may still change;"
                " an actual one has already happened.",
            ),
            GlossaryTerm(
                "primary_completion",
                "Primary completion",
                "When the last participant has been examined or treated for the trial's"
                " main question (its primary outcome). The trial itself may go on after it.",
            ),
            GlossaryTerm(
                "eligibility",
                "Eligibility criteria",
                "The rules for who can take part (inclusion criteria) and who cannot"
                " (exclusion criteria), such as age, diagnosis or earlier treatment.",
            ),
            GlossaryTerm(
                "results",
                "Results",
                "A summary of what the trial found, posted in the registry's own tables;"
                " it is not always published in a journal as well.",
            ),
        )
    }
)
"""Registry terms a digest may use, in the order of its glossary."""


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
