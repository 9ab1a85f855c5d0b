"""The neutral trial: what TrialWatch knows of a trial, whichever registry holds it.

Each registry adapter makes a :class:`TrialSummary` of its own records
(``registries.<name>.summary.summarise``); everything above the registries (the
digest, the exports, the web pages and API, the store's listing columns) reads
the summary and never a record.

Values are the registry's own text, kept as it is (a title is not cleaned, a date
may be partial, ``"2024-02"``); only what TrialWatch compares across registries is a
neutral code: a trial's status (:data:`trialwatch.vocab.STATUS_CODES`) and whether a
date or an enrollment is actual or expected. Where a code is given the registry's
own word is kept beside it, for readers that show the registry's spelling.

Frozen dataclasses, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Actuality = Literal["actual", "expected"]
"""Whether a date or a count has happened (``actual``) or is the plan (``expected``)."""


@dataclass(frozen=True, slots=True)
class TrialRef:
    """A trial as one registry names it: ``TrialRef("ctgov", "NCT05225675")``."""

    registry: str
    id: str


@dataclass(frozen=True, slots=True)
class Contact:
    """Whom to ask about a trial or one of its sites, as the registry gives it."""

    name: str | None = None
    role: str | None = None
    phone: str | None = None
    phone_ext: str | None = None
    """The extension, as written (some registrants put a country code here)."""
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Site:
    """A place where the trial runs; any part may be missing."""

    facility: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    """As the registry writes it (a name, e.g. ``"France"``; ``places`` maps it to a code)."""
    status: str | None = None
    """The site's recruitment status, a neutral status code, e.g. ``"RECRUITING"``."""
    lat: float | None = None
    lon: float | None = None
    """Set when the registry gives the site's coordinates."""
    contacts: tuple[Contact, ...] = ()


@dataclass(frozen=True, slots=True)
class TrialDate:
    """A date of the trial: its text and whether it has happened."""

    value: str
    """ISO 8601 as far as the registry gives it: ``"2024-02"`` or ``"2024-02-15"``."""
    actuality: Actuality | None = None
    """``None`` when the registry does not say (old records)."""
    registry_type: str | None = None
    """The registry's own word for the actuality, e.g. ``"ESTIMATED"``."""

    @property
    def day(self) -> date | None:
        """The day, when the value names one; else None."""
        if len(self.value) != 10:
            return None
        try:
            return date.fromisoformat(self.value)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class TrialDates:
    """The dates a registry gives a trial; each None when absent."""

    start: TrialDate | None = None
    primary_completion: TrialDate | None = None
    completion: TrialDate | None = None
    first_posted: TrialDate | None = None
    results_first_posted: TrialDate | None = None
    last_update_posted: TrialDate | None = None


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Who can take part."""

    minimum_age: str | None = None
    """As the registry writes it, e.g. ``"18 Years"``."""
    maximum_age: str | None = None
    sex: str | None = None
    """``"ALL"``, ``"FEMALE"`` or ``"MALE"``."""
    healthy_volunteers: bool | None = None
    criteria: str | None = None
    """The inclusion and exclusion criteria, as one text."""


@dataclass(frozen=True, slots=True)
class Enrollment:
    """How many people take part: the target (expected) or the number who joined (actual)."""

    count: int | None = None
    actuality: Actuality | None = None
    registry_type: str | None = None
    """The registry's own word, e.g. ``"ESTIMATED"``."""


@dataclass(frozen=True, slots=True)
class OtherId:
    """An identifier of the trial elsewhere: another registry, a funder, a sponsor."""

    id: str
    type: str | None = None
    """The registry's word for the kind of identifier, e.g. ``"EUDRACT_NUMBER"``."""
    domain: str | None = None
    """Who issued it, when the registry says."""


@dataclass(frozen=True, slots=True)
class CountryStatus:
    """A country the trial runs in and the trial's status there (EU CTIS gives one each)."""

    country: str
    """As :attr:`Site.country` (the name ``places`` spells, e.g. ``"Belgium"``)."""
    status: str | None = None
    """A neutral status code; None when the registry gives none or no code fits."""
    registry_status: str | None = None
    """The registry's own status text, e.g. ``"Ongoing, recruiting"``."""


@dataclass(frozen=True, slots=True)
class Translation:
    """A text of the trial in another language, as its sponsor gave it to the registry.

    Never machine-translated: only what the registry holds.
    """

    field: str
    """Which text: ``"brief_title"``, ``"official_title"``, ``"conditions"``,
    ``"inclusion_criteria"`` or ``"exclusion_criteria"``."""
    text: str
    language: str | None = None
    """An ISO 639-1 code (``"el"``) when known."""
    registry_language: str | None = None
    """The registry's name of the language, e.g. ``"Greek"``."""
    index: int = 0
    """Which item of a list field (the first condition is 0); 0 for a title."""


@dataclass(frozen=True, slots=True)
class TrialSummary:
    """One version of a trial, as every reader above the registries sees it."""

    ref: TrialRef
    url: str
    """The trial's page on its registry."""
    brief_title: str | None = None
    official_title: str | None = None
    acronym: str | None = None
    status: str | None = None
    """A neutral status code (``vocab.STATUS_CODES``); a code TrialWatch does not know yet
    passes through as the registry gives it."""
    registry_status: str | None = None
    """The registry's own status text."""
    last_known_status: str | None = None
    why_stopped: str | None = None
    study_type: str | None = None
    phases: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    interventions: tuple[str, ...] = ()
    """The names of the interventions, in registry order."""
    sponsor: str | None = None
    """The lead sponsor."""
    collaborators: tuple[str, ...] = ()
    sites: tuple[Site, ...] = ()
    central_contacts: tuple[Contact, ...] = ()
    dates: TrialDates = TrialDates()
    eligibility: Eligibility = Eligibility()
    enrollment: Enrollment | None = None
    other_ids: tuple[OtherId, ...] = ()
    has_results: bool = False
    registry_phase: str | None = None
    """The registry's own phase text where it has one beside (or instead of) ``phases``."""
    country_statuses: tuple[CountryStatus, ...] = ()
    """The trial's countries with its status in each, for registries that give them."""
    translations: tuple[Translation, ...] = ()
    """Texts of the trial in other languages, in registry order."""

    @property
    def title(self) -> str:
        """The brief title, else the official one, else ``""``."""
        return self.brief_title or self.official_title or ""

    @property
    def last_update(self) -> str | None:
        """The day the registry last posted an update, as it writes it."""
        posted = self.dates.last_update_posted
        return posted.value if posted is not None else None

    @property
    def countries(self) -> tuple[str, ...]:
        """The countries of the trial's sites and of its country statuses, sorted, each once."""
        named = {site.country for site in self.sites} | {c.country for c in self.country_statuses}
        return tuple(sorted(name for name in named if name))

    def translated(self, field: str, language: str) -> tuple[str, ...]:
        """The texts of ``field`` in ``language`` (ISO 639-1), in item order; () if none."""
        found = [t for t in self.translations if t.field == field and t.language == language]
        return tuple(t.text for t in sorted(found, key=lambda t: t.index))
