"""The data of a digest: what goes in (changes, studies, preferences) and what comes out.

Inputs are plain frozen dataclasses that the caller fills from the database;
:func:`trialwatch.digest.assemble.build_digest` turns them into a :class:`Digest`,
which is everything the email templates see (next to the recipient). Nothing here
touches the database, the clock or the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from trialwatch.vocab import MailedSignificance, Significance
from trialwatch.words.digest import MATCHING_SITES, GlossaryTerm, StatusInfo

# re-exported: the vocabulary
__all__ = ["GlossaryTerm", "MailedSignificance", "Significance", "StatusInfo"]
SectionKey = Literal["new", "changed"]


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """Whom to ask about a trial or a site, as the registry gives it (``Contact`` schema)."""

    name: str | None
    phone: str | None = None
    """With its ``phoneExt`` when the registry gives one."""
    email: str | None = None


@dataclass(frozen=True)
class SitePlace:
    """Where a trial site is, as the registry gives it (any part may be missing)."""

    facility: str | None
    city: str | None
    country: str | None
    lat: float | None = None
    lon: float | None = None
    status: str | None = None
    """The site's recruitment status (API enum), e.g. ``"RECRUITING"``."""
    contacts: tuple[Contact, ...] = ()
    """The site's contacts (``locations[].contacts``), in registry order."""


@dataclass(frozen=True)
class NearPlace:
    """A subscriber's "near me": a resolved place and a radius in kilometres."""

    label: str
    """As shown in lines, e.g. ``"Leiden"``."""
    lat: float
    lon: float
    within_km: float


@dataclass(frozen=True)
class ChangeItem:
    """One stored change row, joined with its study and watchlist."""

    change_id: int
    watchlist_slug: str
    watchlist_name: str
    nct_id: str
    kind: str
    """``"new_study"``, ``"overall_status"``, ``"results_posted"``, ``"site_added"``, ..."""
    summary: str
    """A plain-language sentence, e.g. ``"Status: Not yet recruiting → Recruiting"``."""
    significance: Significance
    detected_at: datetime
    countries: tuple[str, ...] = ()
    """For site-level changes, the countries of the sites concerned; ``()`` otherwise."""
    sites: tuple[SitePlace, ...] = ()
    """For site-level changes, the sites concerned (new side); ``()`` otherwise."""
    posted: date | None = None
    """When the registry posted the version that made this change (``lastUpdatePostDate``)."""
    message: str | None = None
    """What the change says in codes (see :mod:`trialwatch.words.changes`); ``None`` for a
    change stored before changes had messages, which has only its :attr:`summary`."""
    params: Mapping[str, Any] | None = None
    """The parameters of :attr:`message`."""


@dataclass(frozen=True)
class StudyInfo:
    """What a digest shows about a study besides its changes."""

    nct_id: str
    title: str
    acronym: str | None
    overall_status: str
    """The API enum, e.g. ``"ACTIVE_NOT_RECRUITING"``."""
    sites: tuple[SitePlace, ...] = ()
    """The study's current sites (for country and near-me filters, and "where")."""
    phases: tuple[str, ...] = ()
    """API ``Phase`` values, e.g. ``("PHASE2", "PHASE3")``."""
    minimum_age: str | None = None
    """As the registry writes it, e.g. ``"18 Years"``."""
    maximum_age: str | None = None
    sex: str | None = None
    """API ``Sex``: ``"ALL"``, ``"FEMALE"`` or ``"MALE"``."""
    enrollment: int | None = None
    enrollment_type: str | None = None
    """API ``EnrollmentType``: ``"ESTIMATED"`` (a target) or ``"ACTUAL"``."""
    central_contacts: tuple[Contact, ...] = ()
    """The trial's central contacts (``contactsLocationsModule.centralContacts``)."""
    first_posted: date | None = None
    """``studyFirstPostDateStruct``: when the trial first appeared on the registry."""
    results_posted: date | None = None
    """``resultsFirstPostDateStruct``: when results were first posted, if they were."""


@dataclass(frozen=True)
class SubscriptionPrefs:
    """One subscription of the recipient: a watchlist and the filters on it."""

    watchlist_slug: str
    minimum_significance: MailedSignificance
    countries: tuple[str, ...] = ()
    """Only site-level changes in these countries (case-insensitive); ``()`` = all."""
    event_kinds: tuple[str, ...] = ()
    """Only these change kinds; ``()`` = all kinds."""
    near: NearPlace | None = None
    """Only changes with a site within ``near.within_km`` of the place; ``None`` = anywhere."""
    cursor: int = 0
    """The last ``change_id`` already delivered (or skipped) for this subscription."""


@dataclass(frozen=True)
class Recipient:
    """Who the digest is for, and the links every email to them must carry."""

    subscriber_id: int
    email: str
    name: str | None
    unsubscribe_url: str
    manage_url: str | None = None


# --- output: what the templates see ---------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A link in a change line: where it goes and its words."""

    url: str
    text: str


@dataclass(frozen=True)
class Fact:
    """One line about a new trial: ``Fact("Who can take part", "18 years and older")``."""

    label: str
    text: str


@dataclass(frozen=True)
class ChangeLine:
    """One change as shown under its study."""

    change_id: int
    kind: str
    summary: str
    significance: Significance
    detected_at: datetime
    countries: tuple[str, ...] = ()
    posted: date | None = None
    """When the registry posted the version that made this change."""
    where: str | None = None
    """Distance wording from the filter, e.g. ``"18 km from Leiden"``; ``None`` without one."""
    sites: tuple[SitePlace, ...] = ()
    """For site changes, the sites concerned, to say where and whom to ask."""
    link: Link | None = None
    """Where to read more about this change, e.g. the results tab for results posted."""
    message: str | None = None
    """What the change says in codes; ``None`` for a change stored before messages."""
    params: Mapping[str, Any] | None = None
    """The parameters of :attr:`message`."""

    @property
    def is_major(self) -> bool:
        """Whether this change is of major significance."""
        return self.significance == "major"


@dataclass(frozen=True)
class StudyEntry:
    """One study block: the study, its current status and the changes to report."""

    nct_id: str
    title: str
    acronym: str | None
    status: StatusInfo | None
    """``None`` when the caller had no :class:`StudyInfo` for the study."""
    url: str
    changes: tuple[ChangeLine, ...]
    """Major changes first, each group in ``change_id`` order."""
    significance: MailedSignificance
    """The highest significance among :attr:`changes`."""
    last_detected_at: datetime
    matching_sites: tuple[str, ...] = ()
    matching_label: str = MATCHING_SITES
    """How the entry introduces :attr:`matching_sites`: "Sites in your countries",
    "Sites within 100 km of Leiden"."""
    """With a country or near-me filter: the matching sites, nearest first, as shown
    ("Leiden (18 km)", "Amsterdam"); ``()`` without a filter."""
    facts: tuple[Fact, ...] = ()
    """For a new trial: where, for whom, phase, enrollment (see ``digest.details``)."""
    contacts: tuple[Contact, ...] = ()
    """For a new trial: its central contacts."""


@dataclass(frozen=True)
class DigestSection:
    """``"new"`` (New trials) or ``"changed"`` (Changes to trials you follow)."""

    key: SectionKey
    title: str
    studies: tuple[StudyEntry, ...]


@dataclass(frozen=True)
class WatchlistGroup:
    """Everything a digest says about one watchlist.

    ``sections`` holds only non-empty sections, "new" before "changed". It can be
    empty when the cap left no room for this watchlist: then only the
    ``omitted_count`` line is shown.
    """

    slug: str
    name: str
    sections: tuple[DigestSection, ...]
    omitted_count: int = 0
    """Studies with reportable changes that did not fit under the cap."""
    more_url: str | None = None
    """Where to see the omitted studies; ``None`` if the caller gave no link."""


@dataclass(frozen=True)
class Digest:
    """One digest email's content for one recipient, ready for the templates."""

    recipient: Recipient
    generated_at: datetime
    groups: tuple[WatchlistGroup, ...]
    glossary: tuple[StatusInfo, ...]
    """The statuses that appear in the digest (of trials and of sites), in lifecycle order."""
    covered: dict[str, tuple[int, int]]
    """Per watchlist slug: (lowest, highest) ``change_id`` that passed the filters,
    shown or counted in "and N more"."""
    new_cursors: dict[str, int]
    """Per subscribed watchlist slug: the cursor to store once the digest is sent
    (the highest ``change_id`` considered, filtered out or not)."""
    study_count: int
    """Study blocks shown (at most the cap)."""
    change_count: int
    """Change lines shown."""
    new_trial_count: int
    """Studies in "New trials" sections, including any omitted by the cap."""
    updated_trial_count: int
    """Studies in "Changes to trials you follow" sections, including omitted ones."""
    omitted_count: int
    """Studies left out by the cap, over all watchlists."""
    terms: tuple[GlossaryTerm, ...] = ()
    """The registry terms the digest uses ("primary completion", "enrollment"...)."""

    @property
    def watchlist_names(self) -> tuple[str, ...]:
        """The names of the watchlists in this digest, in display order."""
        return tuple(group.name for group in self.groups)
