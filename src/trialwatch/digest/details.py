"""What a digest says about a trial besides its change summaries. Pure.

Two halves, used by the digest job:

* reading the registry: :func:`study_info` makes a
  :class:`~trialwatch.digest.model.StudyInfo` of a stored API v2 record (sites,
  ages, sex, phase, enrollment, central contacts, dates) and
  :func:`change_sites` the sites a stored site change is about;
* :func:`add_details` completes an assembled :class:`Digest` with them: the facts
  and contacts of each new trial, the sites (and whom to ask) of each site
  change, the results tab and date of "results posted", and a glossary of every
  status and registry term the email then shows.

Registry text is kept as it is (stripped of control characters and runs of
whitespace); escaping is the templates' job.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from trialwatch.diff.labels import age_words, date_type_words, phases_words
from trialwatch.digest.glossary import (
    glossary_for,
    statuses_named_in,
    term_glossary,
    terms_named_in,
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
_SEX_WORDS = {
    "ALL": "all sexes",
    "FEMALE": "female participants only",
    "MALE": "male participants only",
}


# --- reading the registry -----------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A registry string on one line with single spaces, or None if absent or blank."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    return " ".join(_CONTROL_RE.sub(" ", str(value)).split()) or None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _maps(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _date(struct: Any) -> date | None:
    text = _map(struct).get("date")
    try:
        return date.fromisoformat(text) if isinstance(text, str) and len(text) == 10 else None
    except ValueError:
        return None


def contact_of(raw: Mapping[str, Any]) -> Contact | None:
    """A ``Contact`` of the registry; ``None`` when it has no name, phone or email."""
    phone, ext = _text(raw.get("phone")), _text(raw.get("phoneExt"))
    if phone and ext:
        # Some registrants put the country code in phoneExt: put it in front, as dialled.
        phone = f"{ext} {phone}" if ext.startswith("+") else f"{phone} ext. {ext}"
    contact = Contact(name=_text(raw.get("name")), phone=phone, email=_text(raw.get("email")))
    return contact if (contact.name or contact.phone or contact.email) else None


def _contacts(raw: Any) -> tuple[Contact, ...]:
    return tuple(c for c in map(contact_of, _maps(raw)) if c is not None)


def site_of(raw: Mapping[str, Any]) -> SitePlace:
    """A ``Location`` of the registry (``contactsLocationsModule.locations[]``)."""
    point = _map(raw.get("geoPoint"))
    return SitePlace(
        facility=_text(raw.get("facility")),
        city=_text(raw.get("city")),
        country=_text(raw.get("country")),
        lat=_number(point.get("lat")),
        lon=_number(point.get("lon")),
        status=_text(raw.get("status")),
        contacts=_contacts(raw.get("contacts")),
    )


def change_sites(kind: str, old: Any, new: Any) -> tuple[SitePlace, ...]:
    """The sites a stored change is about: its new side, else its old (a removed site).

    A single site change holds one ``Location`` dict, a grouped one (``sites_added``
    etc.) a list of them. Other kinds are about no site: ``()``.
    """
    if not kind.startswith("site"):
        return ()
    value = new if new else old
    items = _maps(value) if isinstance(value, list) else _maps([value])
    return tuple(site_of(item) for item in items)


def study_info(record: Mapping[str, Any]) -> StudyInfo:
    """What a digest shows about a study, from its API v2 record."""
    protocol = _map(record.get("protocolSection"))
    ident = _map(protocol.get("identificationModule"))
    status = _map(protocol.get("statusModule"))
    design = _map(protocol.get("designModule"))
    enrollment = _map(design.get("enrollmentInfo"))
    eligibility = _map(protocol.get("eligibilityModule"))
    places = _map(protocol.get("contactsLocationsModule"))
    count = enrollment.get("count")
    phases = design.get("phases")
    return StudyInfo(
        nct_id=str(ident.get("nctId") or ""),
        title=_text(ident.get("briefTitle")) or _text(ident.get("officialTitle")) or "",
        acronym=_text(ident.get("acronym")),
        overall_status=_text(status.get("overallStatus")) or "UNKNOWN",
        sites=tuple(site_of(item) for item in _maps(places.get("locations"))),
        phases=tuple(p for p in phases if isinstance(p, str)) if isinstance(phases, list) else (),
        minimum_age=_text(eligibility.get("minimumAge")),
        maximum_age=_text(eligibility.get("maximumAge")),
        sex=_text(eligibility.get("sex")),
        enrollment=count if isinstance(count, int) and not isinstance(count, bool) else None,
        enrollment_type=_text(enrollment.get("type")),
        central_contacts=_contacts(places.get("centralContacts")),
        first_posted=_date(status.get("studyFirstPostDateStruct")),
        results_posted=_date(status.get("resultsFirstPostDateStruct")),
    )


# --- words --------------------------------------------------------------------------------


def _ages(minimum: str | None, maximum: str | None) -> str:
    low, high = age_words(minimum, ""), age_words(maximum, "")
    if low and high:
        low_n, _, low_unit = low.partition(" ")
        same_unit = low_unit.rstrip("s") == high.partition(" ")[2].rstrip("s")
        return f"{low_n} to {high}" if same_unit else f"{low} to {high}"
    if low:
        return f"{low} and older"
    return f"up to {high}" if high else "any age"


def _where(sites: Sequence[SitePlace]) -> str | None:
    counts = Counter(site.country for site in sites if site.country)
    if not counts:
        return None
    ranked = [name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    names = ranked[:COUNTRIES_SHOWN]
    if len(ranked) > COUNTRIES_SHOWN:
        rest = len(ranked) - COUNTRIES_SHOWN
        names.append(f"{rest} more {'country' if rest == 1 else 'countries'}")
    words = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{words} ({len(sites)} site{'' if len(sites) == 1 else 's'})"


def trial_facts(info: StudyInfo) -> tuple[Fact, ...]:
    """Where, for whom, phase and size of a trial, as the lines under a new trial."""
    facts: list[Fact] = []
    where = _where(info.sites)
    if where is not None:
        facts.append(Fact("Where", where))
    who = _ages(info.minimum_age, info.maximum_age)
    if info.sex is not None:
        who += ", " + _SEX_WORDS.get(info.sex, info.sex.replace("_", " ").lower())
    facts.append(Fact("Who can take part", who[0].upper() + who[1:]))
    if any(phase != "NA" for phase in info.phases):
        facts.append(Fact("Phase", phases_words([p for p in info.phases if p != "NA"])))
    if info.enrollment is not None:
        size = f"{info.enrollment} participant{'' if info.enrollment == 1 else 's'}"
        kind = date_type_words(info.enrollment_type)
        facts.append(Fact("Enrollment", f"{size} ({kind})" if kind else size))
    if info.first_posted is not None:
        posted = info.first_posted
        facts.append(Fact("First posted", f"{posted.day} {posted:%B %Y}"))
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
        changes["link"] = Link(entry.url + RESULTS_TAB, "See the results")
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
    yield entry.title
    for fact in entry.facts:
        yield f"{fact.label}: {fact.text}"
    for line in entry.changes:
        if line.kind != "new_study" or not entry.facts:
            yield line.summary


def _statuses(entry: StudyEntry) -> Iterable[str]:
    if entry.status is not None:
        yield entry.status.code
    for line in entry.changes:
        if line.kind.startswith("site") or line.kind in ("overall_status", "withdrawn", "stopped"):
            yield from statuses_named_in(line.summary)
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
    for entry in entries:
        codes.extend(_statuses(entry))
        texts.extend(_shown_texts(entry))
    return dataclasses.replace(
        digest,
        groups=tuple(groups),
        glossary=glossary_for(codes),
        terms=term_glossary(terms_named_in(texts)),
    )
