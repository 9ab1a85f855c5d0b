"""Changes to a CTIS trial's sites (``authorizedApplication.authorizedPartsII[].trialSites``).

Each member state's part II lists its sites: an organisation (its name and its
``businessKey``, ``ORG-…``), an address, a department and one investigator
(``personInfo``). A site is read as a flat view with the keys the neutral site
helpers know (``facility``, ``city``, ``zip``, ``country``) and is named in
summaries by where it is ("Thessaloniki, Greece"), as CT.gov sites are.

Sites are matched by the organisation's ``businessKey`` (else its name, city and
country), whatever their order; what is left is paired when a site is a
correction of another (the same country and city, alike names; see
:func:`trialwatch.diff.sitematch.site_score`). A site that stays gives one change:
"Site details corrected" when its name or place was edited (minor; noise for a
postcode alone), else a new investigator (minor), else the investigator's new
phone or e-mail (minor), else a new department (minor), else anything else
(noise). A site added is major when its country takes patients or may soon
(public status 2, 3 or 4, or not given): a site opening. A site removed is minor.
More than :data:`GROUP_OVER` changes of one kind are grouped, counted by country.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from trialwatch.diff.keys import item_field, join_parts
from trialwatch.diff.lists import Item, Matched, match
from trialwatch.diff.model import Change, said, strongest
from trialwatch.diff.pairing import pair_up
from trialwatch.diff.sitematch import site_score
from trialwatch.places import fold
from trialwatch.registries.ctis.differ.normal import Country, at, country_of, items, part_country
from trialwatch.vocab import Significance

SITES_FIELD = "authorizedApplication.authorizedPartsII.trialSites"

GROUP_OVER = 3
"""Group site changes of one kind when there are more than this many."""

OPENING = frozenset({2, 3, 4})
"""Public statuses of a country whose new sites are opening to patients."""


def site_view(site: Mapping[str, Any], country: str) -> dict[str, Any]:
    """One site as the neutral helpers read it, the registry's site kept under ``site``."""
    where = site.get("organisationAddressInfo")
    person = site.get("personInfo")
    name = " ".join(
        " ".join(str(at(person, part) or "").split()) for part in ("firstName", "lastName")
    ).strip()
    return {
        "key": at(where, "organisation", "businessKey") or at(where, "businessKey"),
        "facility": at(where, "organisation", "name"),
        "city": at(where, "address", "city"),
        "zip": at(where, "address", "postcode"),
        "country": at(where, "address", "countryName") or country or None,
        "department": site.get("departmentName"),
        "investigator": name or None,
        "phone": at(person, "telephone"),
        "email": at(person, "email"),
        "site": dict(site),
    }


def sites_of(rec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every site of every member state, as :func:`site_view` reads them."""
    return [
        site_view(site, part_country(part))
        for part in items(rec.get("authorizedApplication"), "authorizedPartsII")
        for site in items(part, "trialSites")
    ]


def _label(site: Item) -> str:
    return str(site.get("key") or "") or join_parts(
        site.get("facility"), site.get("city"), site.get("country")
    )


def _same_city(site: Item) -> tuple[str, str]:
    return fold(str(site.get("country") or "")), fold(str(site.get("city") or ""))


def match_sites(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> Matched:
    """Sites matched by key, then corrected sites paired by place and name."""
    matched = match(old, new, _label) or Matched()
    if matched.added and matched.removed:
        pairs, matched.removed, matched.added = pair_up(
            matched.removed, matched.added, site_score, _same_city
        )
        matched.changed += pairs
    return matched


def place(site: Item) -> dict[str, Any]:
    """Where a site is, as a change's parameters: its city and country (else its name)."""
    found = {key: site[key] for key in ("city", "country") if site.get(key)}
    if not found and site.get("facility"):
        found["facility"] = site["facility"]
    return found


def _text(site: Item, key: str) -> str:
    return " ".join(str(site.get(key) or "").split()).casefold()


def _added(label: str, site: Item, opening: bool) -> Change:
    significance: Significance = "major" if opening else "minor"
    params = {"place": place(site), "status": None}
    field = item_field(SITES_FIELD, label)
    return said("site_added", field, None, site, "site_added", params, significance)


def _removed(label: str, site: Item) -> Change:
    field = item_field(SITES_FIELD, label)
    return said("site_removed", field, site, None, "site_removed", {"place": place(site)}, "minor")


_CORRECTED = (("facility", "name"), ("city", "city"), ("country", "country"))


def _changed(label: str, before: Item, after: Item) -> Change:
    field = item_field(SITES_FIELD, label)
    where: dict[str, Any] = {"place": place(after)}
    corrected = [code for key, code in _CORRECTED if _text(before, key) != _text(after, key)]
    postcode = ["zip"] if _text(before, "zip") != _text(after, "zip") else []
    if corrected or postcode:
        params: dict[str, Any] = {**where, "what": [*corrected, *postcode]}
        significance: Significance = "minor" if corrected else "noise"
        return said("site_updated", field, before, after, "site_corrected", params, significance)
    if _text(before, "investigator") != _text(after, "investigator"):
        params = {**where, "from": before.get("investigator"), "to": after.get("investigator")}
        message = "ctis_site_investigator_changed"
        return said("site_updated", field, before, after, message, params, "minor")
    edits: list[list[Any]] = []
    if _text(before, "phone") != _text(after, "phone"):
        edits.append(["phone", after.get("phone") or "", ""])
    if _text(before, "email") != _text(after, "email"):
        edits.append(["email", after.get("email") or None])
    if edits:
        params = {**where, "contacts": [["changed", after.get("investigator"), edits]]}
        return said("site_updated", field, before, after, "site_contacts_changed", params, "minor")
    significance = "minor" if _text(before, "department") != _text(after, "department") else "noise"
    return said("site_updated", field, before, after, "site_details_updated", where, significance)


def _by_country(sites: list[Any]) -> dict[str, Any]:
    """The sites counted by country (the most first), each with its cities (the most first)."""
    counts = Counter(str(site.get("country") or "") for site in sites)
    unknown = counts.pop("", 0)
    ranked = sorted(counts.items(), key=lambda entry: (-entry[1], entry[0]))
    listed = []
    for country, count in ranked:
        cities = Counter(
            str(s["city"]) for s in sites if s.get("country") == country and s.get("city")
        )
        names = [city for city, _ in sorted(cities.items(), key=lambda e: (-e[1], e[0]))]
        listed.append([country, count, names])
    return {"countries": listed, "elsewhere": unknown}


def _grouped(changes: list[Change], kind: str, message: str) -> list[Change]:
    if len(changes) <= GROUP_OVER:
        return changes
    olds = [change.old for change in changes if change.old is not None]
    news = [change.new for change in changes if change.new is not None]
    params = {"count": len(changes), **_by_country(news or olds)}
    significance = strongest([change.significance for change in changes])
    return [said(kind, SITES_FIELD, olds, news, message, params, significance)]


def site_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], new_countries: Mapping[str, Country]
) -> list[Change]:
    """The changes of every site between two records (comparable forms, see ``normal``)."""
    matched = match_sites(sites_of(old), sites_of(new))

    def opening(site: Item) -> bool:
        country = new_countries.get(country_of(site.get("country")))
        return country is None or country.status is None or country.status in OPENING

    added = [_added(label, site, opening(site)) for label, site in matched.added]
    changes = _grouped(added, "sites_added", "sites_added")
    removed = [_removed(label, site) for label, site in matched.removed]
    changes += _grouped(removed, "sites_removed", "sites_removed")
    updated = [_changed(label, before, after) for label, before, after in matched.changed]
    changes += _grouped(updated, "sites_updated", "sites_updated")
    return changes
