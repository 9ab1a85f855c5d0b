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
from collections.abc import Mapping
from typing import Any

from trialwatch.diff.keys import canonical, item_field
from trialwatch.diff.lists import Item, is_equivalent
from trialwatch.diff.model import Change, said, strongest
from trialwatch.diff.sitematch import match_sites
from trialwatch.registries.ctgov.differ.contacts import contacts_parts
from trialwatch.vocab import Significance

GROUP_OVER = 3
"""Group site changes of one kind when there are more than this many."""

OPENING = frozenset({"RECRUITING", "NOT_YET_RECRUITING", "AVAILABLE"})
"""A site added with one of these statuses is opening to patients: major."""

NOW_OPEN = frozenset({"RECRUITING", "AVAILABLE"})
"""A site whose status becomes one of these takes patients now: major."""

_PLACE_KEYS = ("city", "state", "country", "facility")


def place(site: Mapping[str, Any]) -> dict[str, Any]:
    """Where a site is, as a change's parameters: its city, state and country (else facility)."""
    found = {key: site[key] for key in _PLACE_KEYS[:3] if site.get(key)}
    if not found and site.get("facility"):
        found["facility"] = site["facility"]
    return found


def _among(status: Any, statuses: frozenset[str]) -> bool:
    return isinstance(status, str) and status in statuses


def _added(path: str, label: str, site: Item) -> Change:
    status = site.get("status")
    significance: Significance = "major" if _among(status, OPENING) else "minor"
    params = {"place": place(site), "status": status}
    return said(
        "site_added", item_field(path, label), None, site, "site_added", params, significance
    )


def _removed(path: str, label: str, site: Item) -> Change:
    params = {"place": place(site)}
    return said(
        "site_removed", item_field(path, label), site, None, "site_removed", params, "minor"
    )


_CORRECTED = (("facility", "name"), ("city", "city"), ("country", "country"))
_FORMAT = (("state", "state"), ("zip", "zip"))


def _edited(before: Item, after: Item, parts: tuple[tuple[str, str], ...]) -> list[str]:
    def text(site: Item, key: str) -> str:
        return " ".join(str(site.get(key) or "").split()).casefold()

    return [code for key, code in parts if text(before, key) != text(after, key)]


def _changed(path: str, label: str, before: Item, after: Item) -> Change:
    field, where = item_field(path, label), {"place": place(after)}
    if before.get("status") != after.get("status"):
        params = {**where, "from": before.get("status"), "to": after.get("status")}
        significance: Significance = "major" if _among(after.get("status"), NOW_OPEN) else "minor"
        return said(
            "site_status", field, before, after, "site_status_changed", params, significance
        )
    corrected, formatted = _edited(before, after, _CORRECTED), _edited(before, after, _FORMAT)
    old_contacts, new_contacts = before.get("contacts"), after.get("contacts")
    contacts = old_contacts != new_contacts and not is_equivalent(old_contacts, new_contacts)
    if corrected or formatted:
        params = {**where, "what": [*corrected, *formatted, *(["contacts"] if contacts else [])]}
        significance = "minor" if corrected or contacts else "noise"
        return said("site_updated", field, before, after, "site_corrected", params, significance)
    if contacts:
        parts = contacts_parts(old_contacts, new_contacts)
        if parts:
            params = {**where, "contacts": parts}
            return said(
                "site_updated", field, before, after, "site_contacts_changed", params, "minor"
            )
        return said("site_updated", field, before, after, "site_contacts_updated", where, "minor")
    return said("site_updated", field, before, after, "site_details_updated", where, "noise")


def by_country(sites: list[Any]) -> dict[str, Any]:
    """The sites counted by country (the most first), each with its cities (the most sites first).

    ``{"countries": [[country, count, [city, ...]], ...], "elsewhere": count}``, where
    ``elsewhere`` counts the sites without a country.
    """
    counts = Counter(str(site.get("country") or "") for site in sites)
    unknown = counts.pop("", 0)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {
        "countries": [[country, count, _cities(sites, country)] for country, count in ranked],
        "elsewhere": unknown,
    }


def _cities(sites: list[Any], country: str) -> list[str]:
    """The cities of ``country`` among ``sites``, the most sites first, then by name."""
    counts = Counter(
        str(site["city"]) for site in sites if site.get("country") == country and site.get("city")
    )
    return [city for city, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def _grouped(
    path: str,
    changes: list[Change],
    kind: str,
    message: str,
    extra: Mapping[str, Any] | None = None,
) -> list[Change]:
    if len(changes) <= GROUP_OVER:
        return changes
    olds = [change.old for change in changes if change.old is not None]
    news = [change.new for change in changes if change.new is not None]
    params = {"count": len(changes), **(extra or {}), **by_country(news or olds)}
    significance = strongest([change.significance for change in changes])
    return [said(kind, path, olds, news, message, params, significance)]


def site_changes(path: str, old: Any, new: Any) -> list[Change] | None:
    """Changes between two ``locations`` lists; ``None`` when they are not lists of dicts."""
    matched = match_sites(old, new)
    if not matched:
        return [] if is_equivalent(old, new) else None
    added = [_added(path, label, site) for label, site in matched.added]
    changes = _grouped(path, added, "sites_added", "sites_added")
    removed = [_removed(path, label, site) for label, site in matched.removed]
    changes += _grouped(path, removed, "sites_removed", "sites_removed")
    changed = [_changed(path, label, before, after) for label, before, after in matched.changed]
    by_status: dict[bytes, list[Change]] = {}
    for change in changed:
        if change.kind == "site_status":
            by_status.setdefault(canonical(change.new.get("status")), []).append(change)
    for key in sorted(by_status):
        group = by_status[key]
        status = {"to": group[0].new.get("status")}
        changes += _grouped(path, group, "sites_status", "sites_status_changed", status)
    updated = [change for change in changed if change.kind == "site_updated"]
    changes += _grouped(path, updated, "sites_updated", "sites_updated")
    return changes
