"""Changes to a study's sites (``contactsLocationsModule.locations``).

A site is named by where it is: ``"Leiden, Netherlands"`` or, with a state,
``"Boston, Massachusetts, United States"``. The facility name is left out of
summaries on purpose: in registry data it is often a placeholder ("Investigator
site", "Research Site", sponsor site codes such as "As0006 125") and would make
lines long; it stays in ``field`` and in ``old``/``new`` for anyone who wants it.

Sites are matched by key, then corrected sites by place (see
:mod:`trialwatch.diff.sitematch`). A site that stays on the list gives one change:
``site_status`` when its status changed (whatever else did), else
``site_updated``: "Site details corrected" when its name or place was edited
(minor; noise when only its zip code or state was), minor when its contacts
changed (saying what changed), noise otherwise (a geo point, say). For a
corrected site ``field`` names it by its new key; ``old`` is the site as it was.

More than :data:`GROUP_OVER` changes of one kind in one version are grouped into a
single change (``sites_added``, ``sites_removed``, ``sites_updated``, and
``sites_status`` per new status), whose ``old``/``new`` are the lists of sites and
whose summary counts them by country, naming the first few cities.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from trialwatch.diff.contacts import contacts_words
from trialwatch.diff.keys import canonical, item_field
from trialwatch.diff.labels import MAX_SUMMARY, status_words
from trialwatch.diff.lists import Item, is_equivalent
from trialwatch.diff.model import Change, strongest
from trialwatch.diff.sitematch import match_sites
from trialwatch.vocab import Significance

GROUP_OVER = 3
"""Group site changes of one kind when there are more than this many."""

OPENING = frozenset({"RECRUITING", "NOT_YET_RECRUITING", "AVAILABLE"})
"""A site added with one of these statuses is opening to patients: major."""

NOW_OPEN = frozenset({"RECRUITING", "AVAILABLE"})
"""A site whose status becomes one of these takes patients now: major."""


def place(site: Mapping[str, Any]) -> str:
    """Where a site is, for a summary: ``"Leiden, Netherlands"``."""
    parts = [str(site[key]) for key in ("city", "state", "country") if site.get(key)]
    if parts:
        return ", ".join(parts)
    return str(site.get("facility") or "unknown location")


def _among(status: Any, statuses: frozenset[str]) -> bool:
    return isinstance(status, str) and status in statuses


def _status_text(site: Mapping[str, Any]) -> str:
    status = site.get("status")
    return "no status" if status is None else status_words(status)


def _added(path: str, label: str, site: Item) -> Change:
    status = site.get("status")
    summary = f"New site: {place(site)}"
    if status is not None:
        summary += f" ({status_words(status)})"
    significance: Significance = "major" if _among(status, OPENING) else "minor"
    return Change("site_added", item_field(path, label), None, site, summary, significance)


def _removed(path: str, label: str, site: Item) -> Change:
    summary = f"Site removed: {place(site)}"
    return Change("site_removed", item_field(path, label), site, None, summary, "minor")


_CORRECTED = (("facility", "name"), ("city", "city"), ("country", "country"))
_FORMAT = (("state", "state"), ("zip", "zip code"))


def _edited(before: Item, after: Item, parts: tuple[tuple[str, str], ...]) -> list[str]:
    def text(site: Item, key: str) -> str:
        return " ".join(str(site.get(key) or "").split()).casefold()

    return [words for key, words in parts if text(before, key) != text(after, key)]


def _changed(path: str, label: str, before: Item, after: Item) -> Change:
    field = item_field(path, label)
    if before.get("status") != after.get("status"):
        summary = f"Site in {place(after)}: {_status_text(before)} → {_status_text(after)}"
        significance: Significance = "major" if _among(after.get("status"), NOW_OPEN) else "minor"
        return Change("site_status", field, before, after, summary, significance)
    corrected, formatted = _edited(before, after, _CORRECTED), _edited(before, after, _FORMAT)
    old_contacts, new_contacts = before.get("contacts"), after.get("contacts")
    contacts = old_contacts != new_contacts and not is_equivalent(old_contacts, new_contacts)
    if corrected or formatted:
        what = [*corrected, *formatted, *(["contacts"] if contacts else [])]
        summary = f"Site details corrected: {place(after)} ({', '.join(what)})"
        significance = "minor" if corrected or contacts else "noise"
        return Change("site_updated", field, before, after, summary, significance)
    if contacts:
        head = f"Site in {place(after)}: "
        words = contacts_words(old_contacts, new_contacts, MAX_SUMMARY - len(head))
        summary = head + words if words else f"Site contacts updated: {place(after)}"
        return Change("site_updated", field, before, after, summary, "minor")
    summary = f"Site details updated: {place(after)}"
    return Change("site_updated", field, before, after, summary, "noise")


def _by_country(sites: list[Any], prefix: str) -> str:
    """``"12 new sites: 8 in Germany (Berlin, Bonn and 5 more), 4 in France (Lyon…)"``, cut to fit.

    Countries by their count of sites (past the line length, and sites without a
    country, counted as elsewhere); then, as room allows, each country's cities,
    the most sites first, one more city per country in turn.
    """
    counts = Counter(str(site.get("country") or "") for site in sites)
    unknown = counts.pop("", 0)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    keep = len(ranked)
    while True:
        rest = unknown + sum(count for _, count in ranked[keep:])
        tail = [f"{rest} elsewhere"] if rest else []
        text = f"{prefix}: {', '.join([f'{n} in {c}' for c, n in ranked[:keep]] + tail)}"
        if len(text) <= MAX_SUMMARY or keep == 0:
            break
        keep -= 1
    cities = {country: _cities(sites, country) for country, _ in ranked[:keep]}
    shown = dict.fromkeys(cities, 0)
    growing = [country for country in cities if cities[country]]
    while growing:
        for country in list(growing):
            shown[country] += 1
            longer = _country_list(prefix, ranked[:keep], cities, shown, tail)
            if len(longer) > MAX_SUMMARY:
                shown[country] -= 1
                growing.remove(country)
                continue
            text = longer
            if shown[country] == len(cities[country]):
                growing.remove(country)
    return text


def _cities(sites: list[Any], country: str) -> list[str]:
    """The cities of ``country`` among ``sites``, the most sites first, then by name."""
    counts = Counter(
        str(site["city"]) for site in sites if site.get("country") == country and site.get("city")
    )
    return [city for city, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def _country_list(
    prefix: str,
    ranked: list[tuple[str, int]],
    cities: dict[str, list[str]],
    shown: dict[str, int],
    tail: list[str],
) -> str:
    parts = []
    for country, count in ranked:
        names, k = cities[country], shown[country]
        more = f" and {len(names) - k} more" if k < len(names) else ""
        places = f" ({', '.join(names[:k])}{more})" if k else ""
        parts.append(f"{count} in {country}{places}")
    return f"{prefix}: {', '.join(parts + tail)}"


def _group(path: str, kind: str, changes: list[Change], prefix: str) -> Change:
    olds = [change.old for change in changes if change.old is not None]
    news = [change.new for change in changes if change.new is not None]
    return Change(
        kind,
        path,
        olds,
        news,
        _by_country(news or olds, prefix),
        strongest([change.significance for change in changes]),
    )


def _grouped(
    path: str, changes: list[Change], kind: str, prefix: Callable[[int], str]
) -> list[Change]:
    if len(changes) <= GROUP_OVER:
        return changes
    return [_group(path, kind, changes, prefix(len(changes)))]


def _now(status: Any) -> Callable[[int], str]:
    words = "without a status" if status is None else status_words(status)
    return lambda n: f"{n} sites now {words}"


def site_changes(path: str, old: Any, new: Any) -> list[Change] | None:
    """Changes between two ``locations`` lists; ``None`` when they are not lists of dicts."""
    matched = match_sites(old, new)
    if not matched:
        return [] if is_equivalent(old, new) else None
    changes = _grouped(
        path,
        [_added(path, label, site) for label, site in matched.added],
        "sites_added",
        lambda n: f"{n} new sites",
    )
    changes += _grouped(
        path,
        [_removed(path, label, site) for label, site in matched.removed],
        "sites_removed",
        lambda n: f"{n} sites removed",
    )
    changed = [_changed(path, label, before, after) for label, before, after in matched.changed]
    by_status: dict[bytes, list[Change]] = {}
    for change in changed:
        if change.kind == "site_status":
            by_status.setdefault(canonical(change.new.get("status")), []).append(change)
    for key in sorted(by_status):
        group = by_status[key]
        changes += _grouped(path, group, "sites_status", _now(group[0].new.get("status")))
    changes += _grouped(
        path,
        [change for change in changed if change.kind == "site_updated"],
        "sites_updated",
        lambda n: f"{n} sites updated",
    )
    return changes
