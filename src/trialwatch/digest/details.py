"""What a digest says about a trial besides its change summaries. Pure.

Two halves, used by the digest job:

* reading the trial: :func:`study_info` makes a
  :class:`~trialwatch.digest.model.StudyInfo` of a
  :class:`~trialwatch.trial.TrialSummary` (sites, ages, sex, phase, enrollment,
  central contacts, dates) and :func:`site_places` the sites a change is about;
* :func:`add_details` completes an assembled :class:`Digest` with them: the facts
  and contacts of each new trial, the sites (and whom to ask) of each site
  change, the results tab and date of "results posted", and a glossary of every
  status and registry term the email then shows.

Registry text is kept as it is (stripped of control characters and runs of
whitespace); the sentences come from ``words.details``; escaping is the templates' job.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from trialwatch import trial
from trialwatch.digest.glossary import (
    glossary_for,
    statuses_of,
    term_glossary,
    terms_named_in,
    terms_of,
)
from trialwatch.digest.model import (
    ChangeItem,
    ChangeLine,
    Contact,
    Digest,
    DigestSection,
    Fact,
    Link,
    SitePlace,
    StudyEntry,
    StudyInfo,
    WatchlistGroup,
)
from trialwatch.words import details as words
from trialwatch.words.terms import age_words, date_type_words, phases_words

SITES_SHOWN = 3
"""At most this many sites are listed under one site change."""
CONTACTS_SHOWN = 2
"""At most this many contacts are given for one site or trial."""
COUNTRIES_SHOWN = 4
"""A new trial's "Where" names at most this many countries."""
RESULTS_TAB = "?tab=results"

# Site changes under which the sites are listed: where they are and whom to ask.
# Removed sites are not listed: there is nobody left to ask there.
_LISTED_SITE_KINDS = frozenset(
    {"site_added", "sites_added", "site_status", "sites_status", "site_updated", "sites_updated"}
)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNKNOWN = "UNKNOWN"


# --- reading the trial --------------------------------------------------------------------


def _text(value: str | None) -> str | None:
    """Registry text on one line with single spaces, or None if absent or blank."""
    if value is None:
        return None
    return " ".join(_CONTROL_RE.sub(" ", value).split()) or None


def contact_of(contact: trial.Contact) -> Contact | None:
    """Whom to ask, as a digest gives it; ``None`` when it has no name, phone or email."""
    found = Contact(
        name=_text(contact.name),
        phone=words.phone(_text(contact.phone), _text(contact.phone_ext)),
        email=_text(contact.email),
    )
    return found if (found.name or found.phone or found.email) else None


def _contacts(contacts: Iterable[trial.Contact]) -> tuple[Contact, ...]:
    return tuple(c for c in map(contact_of, contacts) if c is not None)


def site_place(site: trial.Site) -> SitePlace:
    """A trial's site as a digest shows it."""
    return SitePlace(
        facility=_text(site.facility),
        city=_text(site.city),
        country=_text(site.country),
        lat=site.lat,
        lon=site.lon,
        status=_text(site.status),
        contacts=_contacts(site.contacts),
    )


def site_places(sites: Iterable[trial.Site]) -> tuple[SitePlace, ...]:
    """The sites a change is about (the registry reads them from the change's values)."""
    return tuple(site_place(site) for site in sites)


def study_info(summary: trial.TrialSummary) -> StudyInfo:
    """What a digest shows about a trial."""
    dates, eligibility, enrollment = summary.dates, summary.eligibility, summary.enrollment
    return StudyInfo(
        nct_id=summary.ref.id,
        title=_text(summary.brief_title) or _text(summary.official_title) or "",
        acronym=_text(summary.acronym),
        overall_status=_text(summary.status) or _UNKNOWN,
        sites=site_places(summary.sites),
        phases=summary.phases,
        minimum_age=_text(eligibility.minimum_age),
        maximum_age=_text(eligibility.maximum_age),
        sex=_text(eligibility.sex),
        enrollment=enrollment.count if enrollment is not None else None,
        enrollment_type=_text(enrollment.registry_type) if enrollment is not None else None,
        central_contacts=_contacts(summary.central_contacts),
        first_posted=dates.first_posted.day if dates.first_posted else None,
        results_posted=dates.results_first_posted.day if dates.results_first_posted else None,
    )


# --- the facts of a new trial -------------------------------------------------------------


def _where(sites: Sequence[SitePlace]) -> str | None:
    counts = Counter(site.country for site in sites if site.country)
    if not counts:
        return None
    ranked = [name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    more = max(len(ranked) - COUNTRIES_SHOWN, 0)
    return words.where(ranked[:COUNTRIES_SHOWN], more, len(sites))


def trial_facts(info: StudyInfo) -> tuple[Fact, ...]:
    """Where, for whom, phase and size of a trial, as the lines under a new trial."""
    facts: list[Fact] = []
    where = _where(info.sites)
    if where is not None:
        facts.append(Fact(words.WHERE, where))
    low, high = age_words(info.minimum_age, ""), age_words(info.maximum_age, "")
    facts.append(Fact(words.WHO, words.who(low, high, info.sex)))
    if any(phase != "NA" for phase in info.phases):
        facts.append(Fact(words.PHASE, phases_words([p for p in info.phases if p != "NA"])))
    if info.enrollment is not None:
        kind = date_type_words(info.enrollment_type)
        facts.append(Fact(words.ENROLLMENT, words.participants(info.enrollment, kind)))
    if info.first_posted is not None:
        facts.append(Fact(words.FIRST_POSTED, words.day(info.first_posted)))
    return tuple(facts)


def useful_contacts(contacts: Iterable[Contact]) -> tuple[Contact, ...]:
    """The contacts worth giving: those with a phone or an email first, at most a few."""
    ranked = sorted(contacts, key=lambda c: not (c.phone or c.email))
    reachable = [c for c in ranked if c.phone or c.email]
    return tuple((reachable or ranked)[:CONTACTS_SHOWN])


# --- completing a digest ------------------------------------------------------------------


def _line(
    line: ChangeLine, item: ChangeItem | None, entry: StudyEntry, info: StudyInfo | None
) -> ChangeLine:
    changes: dict[str, Any] = {}
    if item is not None and line.kind in _LISTED_SITE_KINDS:
        changes["sites"] = tuple(
            dataclasses.replace(site, contacts=useful_contacts(site.contacts))
            for site in item.sites
        )
    if line.kind == "results_posted":
        changes["link"] = Link(entry.url + RESULTS_TAB, words.SEE_THE_RESULTS)
        if info is not None and info.results_posted is not None:
            changes["posted"] = info.results_posted
    return dataclasses.replace(line, **changes) if changes else line


def _entry(
    entry: StudyEntry,
    section: str,
    info: StudyInfo | None,
    items: Mapping[int, ChangeItem],
) -> StudyEntry:
    lines = tuple(_line(line, items.get(line.change_id), entry, info) for line in entry.changes)
    if section != "new" or info is None:
        return dataclasses.replace(entry, changes=lines)
    return dataclasses.replace(
        entry,
        changes=lines,
        facts=trial_facts(info),
        contacts=useful_contacts(info.central_contacts),
    )


def _shown_texts(entry: StudyEntry) -> Iterable[str]:
    """The text shown that is not a change in codes: the title, the facts, old summaries."""
    yield entry.title
    for fact in entry.facts:
        yield f"{fact.label}: {fact.text}"
    for line in entry.changes:
        if line.message is None and (line.kind != "new_study" or not entry.facts):
            yield line.summary


def _change_terms(entry: StudyEntry) -> Iterable[str]:
    """The registry terms the entry's changes use, from their messages and parameters."""
    for line in entry.changes:
        if line.message is not None:
            yield from terms_of(line.message, line.params)


def _statuses(entry: StudyEntry) -> Iterable[str]:
    if entry.status is not None:
        yield entry.status.code
    for line in entry.changes:
        if line.kind.startswith("site") or line.kind in ("overall_status", "withdrawn", "stopped"):
            yield from statuses_of(line.message, line.params, line.summary)
        if len(line.sites) > 1:  # one site's status is in the summary; several are listed
            yield from (site.status for site in line.sites[:SITES_SHOWN] if site.status)


def add_details(
    digest: Digest, studies: Mapping[str, StudyInfo], changes: Iterable[ChangeItem]
) -> Digest:
    """``digest`` with the details of its trials and changes, and a glossary to match.

    ``studies`` and ``changes`` are what the digest was assembled from. The
    glossary then holds every status the email shows (trials' and sites') and the
    registry terms its lines, facts and titles use.
    """
    items = {item.change_id: item for item in changes}
    groups: list[WatchlistGroup] = []
    entries: list[StudyEntry] = []
    for group in digest.groups:
        sections: list[DigestSection] = []
        for section in group.sections:
            done = tuple(
                _entry(entry, section.key, studies.get(entry.nct_id), items)
                for entry in section.studies
            )
            entries.extend(done)
            sections.append(dataclasses.replace(section, studies=done))
        groups.append(dataclasses.replace(group, sections=tuple(sections)))
    codes = [status.code for status in digest.glossary]
    texts: list[str] = []
    terms: set[str] = set()
    for entry in entries:
        codes.extend(_statuses(entry))
        texts.extend(_shown_texts(entry))
        terms.update(_change_terms(entry))
    return dataclasses.replace(
        digest,
        groups=tuple(groups),
        glossary=glossary_for(codes),
        terms=term_glossary(terms | set(terms_named_in(texts))),
    )
