"""Assemble a recipient's digest from change rows: filter, group, order, cap. Pure.

Two functions, meant to be used together by the job that sends digests::

    digest = build_digest(recipient, subscriptions, changes, studies, now=now)
    cursors = next_cursors(subscriptions, changes)   # == digest.new_cursors when not None
    if digest is not None:
        ...render, queue in the outbox...
    ...store cursors (even when there was nothing to send)...

``changes`` should be the recipient's change rows with ``change_id`` above the
cursor of their watchlist's subscription (rows at or below it are ignored anyway).

**Filters** (per subscription): ``change_id > cursor``; significance at or above
the subscription's minimum (``"noise"`` is never mailed); ``event_kinds`` if set;
then *where*, when ``countries`` or ``near`` is set. A site *matches* when it is in
one of the countries (compared as ISO codes, so "Turkey" matches "Türkiye") and, with
``near``, its geoPoint is within ``near.within_km`` (great-circle distance); a site
without a geoPoint never matches a near filter.

- A site-level change (``site_added``, ``sites_status``, ...) passes when one of the
  sites concerned matches (by its ``countries`` when the sites are not given).
- Any other change, a new trial included, passes when the trial has a matching
  current site (:attr:`StudyInfo.sites`), or lists no site at all yet (the entry
  then says :data:`NO_SITES_YET`). Without a :class:`StudyInfo` it passes.

The entry lists the matching current sites (:attr:`StudyEntry.matching_sites`:
nearest first with their distance under a near filter, "Leiden (18 km)"), and with a
near filter a site change or new trial says how far its nearest matching site is
(:attr:`ChangeLine.where`, "18 km from Leiden").

**Cursors** advance to the highest ``change_id`` *considered*, including changes
that were filtered out and studies left out by the cap (those are counted in the
"and N more" line, which links to where they can be seen). Otherwise a filtered
change would be reconsidered on every run.

**Layout**: one :class:`WatchlistGroup` per watchlist (by name; those the cap
left without any study shown go last), each with a
"New trials" section (studies with a ``new_study`` change) and a "Changes to
trials you follow" section. Within a section: studies with major changes first,
then by most recent change, then by NCT ID. Within a study: major changes first,
each in ``change_id`` order.

**Cap**: at most ``max_studies`` study blocks in the whole email. The blocks kept
are the most important over all watchlists (new before changed, major before
minor, recent before old), so a busy watchlist cannot push a new major trial of
another one out. Each group reports how many of its studies were left out and a
``more_url`` to see them: ``more_urls[slug]`` given by the caller (the watchlist's
page on the TrialWatch site), else the recipient's ``manage_url``, else ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from trialwatch.digest.glossary import describe_status, glossary_for, statuses_of
from trialwatch.digest.model import (
    ChangeItem,
    ChangeLine,
    Digest,
    DigestSection,
    MailedSignificance,
    Recipient,
    SectionKey,
    StudyEntry,
    StudyInfo,
    SubscriptionPrefs,
    WatchlistGroup,
)
from trialwatch.digest.where import Filter, near_filter
from trialwatch.words import digest as words
from trialwatch.words.digest import NO_SITES_YET

DEFAULT_SITE_BASE_URL = "https://clinicaltrials.gov"
SECTION_TITLES: Mapping[SectionKey, str] = {
    "new": words.SECTION_TITLES["new"],
    "changed": words.SECTION_TITLES["changed"],
}
_RANK = {"major": 2, "minor": 1, "noise": 0}
# Change kinds whose words name statuses ("Status: X → Y"): their statuses go into the glossary.
_STATUS_KINDS = frozenset({"overall_status", "withdrawn", "stopped"})

__all__ = [
    "NO_SITES_YET",
    "SECTION_TITLES",
    "build_digest",
    "near_filter",
    "next_cursors",
    "study_url",
]


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A study with changes to report in one watchlist, before the cap."""

    slug: str
    nct_id: str
    section: SectionKey
    significance: MailedSignificance
    last_detected_at: datetime
    items: list[ChangeItem]
    """Major first, each in change_id order."""

    @classmethod
    def of(cls, slug: str, nct_id: str, items: list[ChangeItem]) -> _Candidate:
        items.sort(key=lambda c: (-_RANK[c.significance], c.change_id))
        return cls(
            slug=slug,
            nct_id=nct_id,
            section="new" if any(c.kind == "new_study" for c in items) else "changed",
            significance="major" if items[0].significance == "major" else "minor",
            last_detected_at=max(c.detected_at for c in items),
            items=items,
        )

    def sort_key(self) -> tuple[int, int, float, str]:
        return (
            0 if self.section == "new" else 1,
            0 if self.significance == "major" else 1,
            -self.last_detected_at.timestamp(),
            self.nct_id,
        )


def _index(subscriptions: Sequence[SubscriptionPrefs]) -> dict[str, SubscriptionPrefs]:
    by_slug: dict[str, SubscriptionPrefs] = {}
    for prefs in subscriptions:
        if prefs.watchlist_slug in by_slug:
            raise ValueError(f"two subscriptions: watchlist {prefs.watchlist_slug!r}")
        by_slug[prefs.watchlist_slug] = prefs
    return by_slug


def next_cursors(
    subscriptions: Sequence[SubscriptionPrefs], changes: Sequence[ChangeItem]
) -> dict[str, int]:
    """Return the cursor to store for each subscription once ``changes`` have been dealt with.

    The new cursor is the highest ``change_id`` of the subscription's watchlist in
    ``changes``, whether or not it passed the filters, or the old cursor if higher.
    Every subscription is in the result, advanced or not.
    """
    cursors = {slug: prefs.cursor for slug, prefs in _index(subscriptions).items()}
    for change in changes:
        current = cursors.get(change.watchlist_slug)
        if current is not None and change.change_id > current:
            cursors[change.watchlist_slug] = change.change_id
    return cursors


def study_url(nct_id: str, site_base_url: str = DEFAULT_SITE_BASE_URL) -> str:
    """Return the ClinicalTrials.gov page of a study."""
    return f"{site_base_url.rstrip('/')}/study/{nct_id}"


def _entry(
    candidate: _Candidate, study: StudyInfo | None, check: Filter, site_base_url: str
) -> StudyEntry:
    nct_id = candidate.nct_id
    return StudyEntry(
        nct_id=nct_id,
        title=study.title if study is not None else nct_id,
        acronym=study.acronym if study is not None else None,
        status=describe_status(study.overall_status) if study is not None else None,
        url=study_url(nct_id, site_base_url),
        changes=tuple(
            ChangeLine(
                change_id=c.change_id,
                kind=c.kind,
                summary=c.summary,
                significance=c.significance,
                detected_at=c.detected_at,
                countries=c.countries,
                posted=c.posted,
                where=check.where(c, study),
                message=c.message,
                params=c.params,
            )
            for c in candidate.items
        ),
        significance=candidate.significance,
        last_detected_at=candidate.last_detected_at,
        matching_sites=check.matching_sites(candidate.items, study),
        matching_label=check.matching_label,
    )


def build_digest(
    recipient: Recipient,
    subscriptions: Sequence[SubscriptionPrefs],
    changes: Sequence[ChangeItem],
    studies: Mapping[str, StudyInfo],
    *,
    now: datetime,
    max_studies: int = 25,
    site_base_url: str = DEFAULT_SITE_BASE_URL,
    more_urls: Mapping[str, str] | None = None,
) -> Digest | None:
    """Return the digest of ``changes`` for ``recipient``, or ``None`` if nothing passes.

    ``studies`` maps NCT IDs to what is shown about them; a study missing from it
    is shown by NCT ID with no status. ``now`` is the digest's date. Changes of
    watchlists the recipient does not subscribe to are ignored. When the result is
    ``None`` the cursors must still advance: use :func:`next_cursors`.

    Raises ``ValueError`` if ``max_studies`` is below 1 or two subscriptions name
    the same watchlist.
    """
    if max_studies < 1:
        raise ValueError(f"max_studies={max_studies}, below 1")
    filters = {slug: Filter.of(prefs) for slug, prefs in _index(subscriptions).items()}

    by_study = _by_study(changes, filters, studies)
    if not by_study:
        return None
    names, covered = _names_and_covered(by_study)
    candidates = sorted(
        (_Candidate.of(slug, nct_id, items) for (slug, nct_id), items in by_study.items()),
        key=_Candidate.sort_key,
    )
    shown = [
        (c, _entry(c, studies.get(c.nct_id), filters[c.slug], site_base_url))
        for c in candidates[:max_studies]
    ]
    omitted = candidates[max_studies:]
    groups = _groups(names, shown, omitted, more_urls or {}, recipient.manage_url)
    status_codes = _status_codes(shown)

    new_total = sum(1 for c in candidates if c.section == "new")
    return Digest(
        recipient=recipient,
        generated_at=now,
        groups=tuple(groups),
        glossary=glossary_for(status_codes),
        covered=covered,
        new_cursors=next_cursors(subscriptions, changes),
        study_count=len(shown),
        change_count=sum(len(e.changes) for _, e in shown),
        new_trial_count=new_total,
        updated_trial_count=len(candidates) - new_total,
        omitted_count=len(omitted),
    )


def _by_study(
    changes: Sequence[ChangeItem],
    filters: Mapping[str, Filter],
    studies: Mapping[str, StudyInfo],
) -> dict[tuple[str, str], list[ChangeItem]]:
    """The changes that pass their watchlist's filter, by (watchlist, study), in order."""
    by_study: dict[tuple[str, str], list[ChangeItem]] = {}
    for change in changes:
        check = filters.get(change.watchlist_slug)
        if check is not None and check.passes(change, studies.get(change.nct_id)):
            by_study.setdefault((change.watchlist_slug, change.nct_id), []).append(change)
    return by_study


def _names_and_covered(
    by_study: Mapping[tuple[str, str], list[ChangeItem]],
) -> tuple[dict[str, str], dict[str, tuple[int, int]]]:
    """Each watchlist's name, and the lowest and highest change ID the digest covers of it."""
    names: dict[str, str] = {}
    covered: dict[str, tuple[int, int]] = {}
    for (slug, _), items in by_study.items():
        names.setdefault(slug, items[0].watchlist_name)
        ids = [c.change_id for c in items]
        low, high = covered.get(slug, (ids[0], ids[0]))
        covered[slug] = (min(low, *ids), max(high, *ids))
    return names, covered


def _groups(
    names: Mapping[str, str],
    shown: Sequence[tuple[_Candidate, StudyEntry]],
    omitted: Sequence[_Candidate],
    more_urls: Mapping[str, str],
    manage_url: str | None,
) -> list[WatchlistGroup]:
    """One group per watchlist, by name; one the cap left empty goes after those with studies."""
    omitted_by_slug: dict[str, int] = {}
    for candidate in omitted:
        omitted_by_slug[candidate.slug] = omitted_by_slug.get(candidate.slug, 0) + 1
    groups: list[WatchlistGroup] = []
    for slug in sorted(names, key=lambda s: (names[s].casefold(), s)):
        sections: list[DigestSection] = []
        for key, title in SECTION_TITLES.items():
            entries = tuple(e for c, e in shown if c.slug == slug and c.section == key)
            if entries:
                sections.append(DigestSection(key=key, title=title, studies=entries))
        groups.append(
            WatchlistGroup(
                slug=slug,
                name=names[slug],
                sections=tuple(sections),
                omitted_count=omitted_by_slug.get(slug, 0),
                more_url=more_urls.get(slug, manage_url),
            )
        )
    groups.sort(key=lambda group: not group.sections)
    return groups


def _status_codes(shown: Sequence[tuple[_Candidate, StudyEntry]]) -> list[str]:
    """The status codes a reader meets in the digest (for its glossary)."""
    status_codes: list[str] = []
    for _, entry in shown:
        if entry.status is not None:
            status_codes.append(entry.status.code)
        for line in entry.changes:
            if line.kind in _STATUS_KINDS:
                status_codes.extend(statuses_of(line.message, line.params, line.summary))
    return status_codes
