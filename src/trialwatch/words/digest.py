"""What a digest says besides the changes: status explanations, terms, headings, places.

- :data:`STATUSES`: every overall status with its label (from :mod:`.terms`) and a
  one-sentence explanation for readers who are not researchers, in the order of a
  study's life (the order of the glossary at the foot of a digest). A site's status
  is one of them too, so each explanation reads right for a trial and for a site.
- :data:`TERMS`: the registry's words a digest uses (phase, enrollment, expected and
  actual, primary completion...), explained the same way.
- The headings and the phrases of where a trial's sites are ("18 km from Leiden").

Pure data and small functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from trialwatch.words.terms import and_more, status_label


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


_EXPLANATIONS: Mapping[str, str] = {
    "NOT_YET_RECRUITING": (
        "Not looking for participants yet: recruitment is planned but has not started."
    ),
    "RECRUITING": "Looking for participants now.",
    "ENROLLING_BY_INVITATION": (
        "Only taking people the researchers invite, for example from an"
        " earlier study; you cannot apply to join."
    ),
    "ACTIVE_NOT_RECRUITING": (
        "Going on: participants are being treated or followed up, but no new"
        " participants are being taken."
    ),
    "SUSPENDED": "Paused early; it may start again.",
    "TERMINATED": "Stopped early; it will not start again.",
    "COMPLETED": "Ended as planned: participants are no longer being treated or examined.",
    "WITHDRAWN": "Stopped before anyone took part.",
    "UNKNOWN": (
        "The study was open or about to open, but its expected end date has"
        " passed and nobody has updated its status for more than two years."
    ),
    "AVAILABLE": (
        "The treatment can be requested outside a trial (expanded access),"
        " usually through a treating doctor; for a site, it can be had there."
    ),
    "NO_LONGER_AVAILABLE": "The treatment was available outside a trial but is not any more.",
    "TEMPORARILY_NOT_AVAILABLE": (
        "The treatment cannot be requested outside a trial right now, but should be again later."
    ),
    "APPROVED_FOR_MARKETING": (
        "The treatment has been approved by the US Food and Drug"
        " Administration and can be prescribed."
    ),
    "WITHHELD": "The sponsor has not made the availability of this treatment public.",
}

STATUSES: Mapping[str, StatusInfo] = MappingProxyType(
    {
        code: StatusInfo(code=code, label=status_label(code), explanation=explanation)
        for code, explanation in _EXPLANATIONS.items()
    }
)
"""Every overall status the glossary explains, in the order of a study's life."""


def describe_status(code: str) -> StatusInfo:
    """Return the label and explanation of an overall status.

    A value the glossary does not know gets a readable label made from the code
    and no explanation, so it is shown but left out of the glossary.
    """
    known = STATUSES.get(code)
    if known is not None:
        return known
    return StatusInfo(code=code, label=status_label(code), explanation=None)


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


# --- headings and places ------------------------------------------------------------------

SECTION_TITLES: Mapping[str, str] = {
    "new": "New trials",
    "changed": "Changes to trials you follow",
}
"""The two sections of a watchlist's part of a digest, in the order shown."""

NO_SITES_YET = "no sites listed yet"
"""What the matching sites of a trial that lists no site say, under a where filter."""

MATCHING_SITES = "Sites in your area"
"""How an entry introduces its matching sites when nothing more precise is known."""

A_SITE = "a site"
"""A site that has no city, facility or country to be named by."""


def km_words(distance: float) -> str:
    """``"18 km"``; ``"under 1 km"`` below half a kilometre."""
    return "under 1 km" if distance < 0.5 else f"{distance:.0f} km"


def from_place(distance: float, place: str) -> str:
    """``"18 km from Leiden"``: how far a site is from the subscriber's place."""
    return f"{km_words(distance)} from {place}"


def site_at(name: str, distance: float) -> str:
    """``"Leiden (18 km)"``: a matching site and its distance."""
    return f"{name} ({km_words(distance)})"


def matching_label(near_km: float | None, near_place: str | None, countries: bool) -> str:
    """How an entry introduces its matching sites: within a distance, in countries, or not."""
    if near_km is not None and near_place is not None:
        return f"Sites within {near_km:g} km of {near_place}"
    return "Sites in your countries" if countries else ""


def more_sites(count: int) -> str:
    """``"and 3 more"``: the matching sites not named."""
    return and_more(count)
