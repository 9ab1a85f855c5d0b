"""The catalogue's messages about list items: arms, interventions, sponsors, contacts,
officials, documents, outcomes, results publications and sites (see :mod:`.changes`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trialwatch.words.saying import MAX_SUMMARY, Params, sayings
from trialwatch.words.terms import (
    NOT_GIVEN,
    and_more,
    clip,
    intervention_type_words,
    join_words,
    phone_words,
    role_words,
    some_of,
    status_words,
)

ITEM_SAYINGS, _says = sayings()


def _spaced(value: Any) -> str:
    return " ".join(str(value).split())


# --- arms, interventions, collaborators ------------------------------------------------------


def _arm(p: Params) -> str:
    return f'"{clip(str(p.get("label") or ""), 70)}"'


def _collaborator(p: Params) -> str:
    return clip(str(p["name"]), 70) if p.get("name") else "unnamed"


def _intervention(p: Params) -> str:
    name = clip(str(p.get("name") or "unnamed"), 70)
    if p.get("type") is None:
        return name
    return f"{name} ({intervention_type_words(p['type'])})"


_ARM = {"label": "Empasiprubart"}
_DRUG = {"name": "ARGX-117", "type": "DRUG"}
_SPONSOR = {"name": "argenx"}

_says("arm_added", _ARM)(lambda p: f"New arm: {_arm(p)}")
_says("arm_removed", _ARM)(lambda p: f"Arm removed: {_arm(p)}")
_says("arm_updated", _ARM)(lambda p: f"Arm updated: {_arm(p)}")
_says("intervention_added", _DRUG)(lambda p: f"New intervention: {_intervention(p)}")
_says("intervention_removed", _DRUG)(lambda p: f"Intervention removed: {_intervention(p)}")
_says("intervention_updated", _DRUG)(lambda p: f"Intervention updated: {_intervention(p)}")
_says("collaborator_added", _SPONSOR)(lambda p: f"New collaborator: {_collaborator(p)}")
_says("collaborator_removed", _SPONSOR)(lambda p: f"Collaborator removed: {_collaborator(p)}")
_says("collaborator_updated", _SPONSOR)(lambda p: f"Collaborator updated: {_collaborator(p)}")


@_says("intervention_renamed", {"from": "ARGX-117", "to": "Empasiprubart"})
def _renamed(p: Params) -> str:
    old, new = (clip(str(name or "unnamed"), 50) for name in (p["from"], p["to"]))
    return f"Intervention renamed: {old} → {new}"


@_says("intervention_names_changed", {"name": "ARGX-117", "gained": ["x"], "lost": ["y"]})
def _names(p: Params) -> str:
    parts = []
    if p.get("gained"):
        parts.append("also known as " + join_words(p["gained"], 60))
    if p.get("lost"):
        parts.append("no longer also known as " + join_words(p["lost"], 60))
    return f"{clip(str(p.get('name') or 'unnamed'), 50)}: {'; '.join(parts)}"


# --- contacts and officials --------------------------------------------------------------------


def contact_name(name: Any) -> str:
    """A contact by its name, e-mail or phone (the registry's label), or ``"unnamed"``."""
    return clip(str(name or ""), 50) or "unnamed"


def _edit(edit: list[Any]) -> str:
    """One edit of a contact: ``["phone", phone, ext]``, ``["email", email]``, ..."""
    what = edit[0]
    if what == "name":
        return f"new name {clip(str(edit[1]), 50)}"
    if what == "phone":
        phone = phone_words(edit[1], edit[2])
        return f"new phone {phone}" if phone else "phone removed"
    if what == "email":
        return f"new email {edit[1]}" if edit[1] else "email removed"
    if what == "role":
        return f"now {role_words(edit[1])}"
    if what == "affiliation":
        return f"new affiliation {clip(edit[1], 50)}" if edit[1] else "affiliation removed"
    return "details updated"


def _edits(edits: list[list[Any]]) -> str:
    return ", ".join(map(_edit, edits))


_CONTACT = {"name": "Jane Doe"}
_says("contact_added", _CONTACT)(lambda p: f"New contact: {contact_name(p['name'])}")
_says("contact_removed", _CONTACT)(lambda p: f"Contact removed: {contact_name(p['name'])}")
_says("contact_updated", _CONTACT)(lambda p: f"Contact updated: {contact_name(p['name'])}")


@_says(
    "contact_changed",
    {"name": "Jane Doe", "edits": [["phone", "+33 1 49", "12"], ["email", "j@x.org"]]},
)
def _contact_changed(p: Params) -> str:
    return f"Contact {contact_name(p['name'])}: {_edits(p['edits'])}"


def _official(p: Params) -> str:
    name = clip(_spaced(p.get("name") or "unnamed"), 50)
    affiliation = _spaced(p.get("affiliation") or "")
    return f"{name} ({clip(affiliation, 50)})" if affiliation else name


_OFFICIAL = {"name": "Jane Doe, MD", "affiliation": "LUMC", "role": "PRINCIPAL_INVESTIGATOR"}


@_says("official_added", _OFFICIAL)
def _official_added(p: Params) -> str:
    role = role_words(p["role"]) if p.get("role") else "official"
    return f"New {role}: {_official(p)}"


_says("official_removed", _OFFICIAL)(lambda p: f"Official removed: {_official(p)}")
_says("official_updated", _OFFICIAL)(lambda p: f"Official updated: {_official(p)}")


@_says("official_changed", {"name": "Jane Doe", "edits": [["role", "STUDY_CHAIR"]]})
def _official_changed(p: Params) -> str:
    name = clip(_spaced(p.get("name") or "unnamed"), 50)
    return f"Official {name}: {_edits(p['edits'])}"


# --- documents and results publications -----------------------------------------------------

_DOCUMENT_PARTS: Mapping[str, str] = {
    "protocol": "study protocol",
    "sap": "statistical analysis plan",
    "icf": "informed consent form",
}


def document_words(p: Params) -> str:
    """``"Study protocol and statistical analysis plan"``, from the document's parts."""
    parts = [_DOCUMENT_PARTS[part] for part in p.get("parts") or ()]
    if not parts:
        return clip(_spaced(p.get("label") or "document"), 80).capitalize()
    text = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    return text[0].upper() + text[1:]


_DOC = {"parts": ["protocol", "sap"], "label": "Study Protocol and SAP"}
_says("document_added", _DOC)(lambda p: f"Document posted: {document_words(p)}")
_says("document_removed", _DOC)(lambda p: f"Document removed: {document_words(p)}")
_says("document_updated", _DOC)(lambda p: f"Document updated: {document_words(p)}")


def citation_words(citation: str, limit: int) -> str:
    """``"Smith J, et al. Efficacy of …"``: the first author and the title, in ``limit``."""
    authors, dot, rest = citation.partition(". ")
    if not dot or not rest:
        return clip(citation or "untitled", limit)
    first, comma, _ = authors.partition(", ")
    head = f"{first}, et al. " if comma else f"{first}. "
    title = rest.partition(". ")[0].rstrip(".")
    return head + clip(title, max(limit - len(head), 10))


_PUBLICATION = {"citation": "Smith J, Doe A. Efficacy of X. N Engl J Med. 2025", "pmid": "123"}


@_says("results_publication_added", _PUBLICATION)
def _publication(p: Params) -> str:
    pmid = p.get("pmid") or ""
    tail = f" (PMID {pmid})" if pmid else ""
    head = "Results publication: "
    return (
        head
        + citation_words(str(p.get("citation") or ""), MAX_SUMMARY - len(head) - len(tail))
        + tail
    )


@_says("results_publication_removed", _PUBLICATION)
def _publication_removed(p: Params) -> str:
    return _publication(p).replace("publication:", "publication removed:", 1)


# --- outcomes ---------------------------------------------------------------------------------

_OUTCOMES: Mapping[str, str] = {"primary": "Primary outcome", "secondary": "Secondary outcome"}
_OUTCOME = {"which": "primary", "measure": "Time to retreatment"}


def _measure(p: Params, limit: int = 90) -> str:
    return clip(str(p.get("measure") or "") or "unnamed", limit)


@_says("outcome_added", _OUTCOME)
def _outcome_added(p: Params) -> str:
    return f"New {_OUTCOMES[p['which']].lower()}: {_measure(p)}"


_says("outcome_removed", _OUTCOME)(lambda p: f"{_OUTCOMES[p['which']]} removed: {_measure(p)}")
_says("outcome_measure_changed", _OUTCOME)(
    lambda p: f"{_OUTCOMES[p['which']]} changed: {_measure(p)}"
)
_says("outcome_description_updated", _OUTCOME)(
    lambda p: f"{_OUTCOMES[p['which']]} description updated: {_measure(p)}"
)


@_says(
    "outcome_time_frame_changed",
    {"which": "primary", "from": "12 weeks", "to": "24 weeks", "measure": "Grip strength"},
)
def _time_frame(p: Params) -> str:
    which = f" ({_measure(p, 50)})" if p.get("measure") is not None else ""
    old, new = (clip(str(frame or NOT_GIVEN), 40) for frame in (p["from"], p["to"]))
    return f"{_OUTCOMES[p['which']]} time frame: {old} → {new}{which}"


# --- sites ----------------------------------------------------------------------------------------


def place_words(place: Mapping[str, Any]) -> str:
    """Where a site is: ``"Leiden, Netherlands"``; its facility when no place is given."""
    parts = [str(place[key]) for key in ("city", "state", "country") if place.get(key)]
    if parts:
        return ", ".join(parts)
    return str(place.get("facility") or "unknown location")


def _site_status(status: Any) -> str:
    return "no status" if status is None else status_words(status)


_PLACE = {"place": {"city": "Leiden", "country": "Netherlands"}}


@_says("site_added", {**_PLACE, "status": "RECRUITING"})
def _site_added(p: Params) -> str:
    text = f"New site: {place_words(p['place'])}"
    return text + (f" ({status_words(p['status'])})" if p.get("status") is not None else "")


_says("site_removed", _PLACE)(lambda p: f"Site removed: {place_words(p['place'])}")
_says("site_details_updated", _PLACE)(lambda p: f"Site details updated: {place_words(p['place'])}")
_says("site_contacts_updated", _PLACE)(
    lambda p: f"Site contacts updated: {place_words(p['place'])}"
)


@_says("site_status_changed", {**_PLACE, "from": "NOT_YET_RECRUITING", "to": "RECRUITING"})
def _site_status_changed(p: Params) -> str:
    old, new = _site_status(p["from"]), _site_status(p["to"])
    return f"Site in {place_words(p['place'])}: {old} → {new}"


_CORRECTED: Mapping[str, str] = {
    "name": "name",
    "city": "city",
    "country": "country",
    "state": "state",
    "zip": "zip code",
    "contacts": "contacts",
}


@_says("site_corrected", {**_PLACE, "what": ["name", "zip"]})
def _site_corrected(p: Params) -> str:
    what = ", ".join(_CORRECTED[part] for part in p["what"])
    return f"Site details corrected: {place_words(p['place'])} ({what})"


def _site_contact(part: list[Any]) -> str:
    """``["added", name]``, ``["changed", name, edits]`` or ``["removed", name]``."""
    if part[0] == "added":
        return f"new contact {contact_name(part[1])}"
    if part[0] == "changed":
        return f"contact {contact_name(part[1])}: {_edits(part[2])}"
    return f"contact {contact_name(part[1])} removed"


@_says(
    "site_contacts_changed",
    {**_PLACE, "contacts": [["added", "Jane Doe"], ["changed", "Bob", [["email", None]]]]},
)
def _site_contacts(p: Params) -> str:
    head = f"Site in {place_words(p['place'])}: "
    return head + some_of([_site_contact(part) for part in p["contacts"]], MAX_SUMMARY - len(head))


def _by_country(p: Params, prefix: str) -> str:
    """``"12 new sites: 8 in Germany (Berlin, Bonn and 5 more), 4 in France (Lyon…)"``, cut to fit.

    Countries by their count of sites (past the line length, and sites without a
    country, counted as elsewhere); then, as room allows, each country's cities,
    the most sites first, one more city per country in turn.
    """
    ranked = [(str(country), int(count)) for country, count, _ in p["countries"]]
    all_cities = {str(country): list(cities) for country, _, cities in p["countries"]}
    unknown = int(p.get("elsewhere") or 0)
    keep = len(ranked)
    while True:
        rest = unknown + sum(count for _, count in ranked[keep:])
        tail = [f"{rest} elsewhere"] if rest else []
        text = f"{prefix}: {', '.join([f'{n} in {c}' for c, n in ranked[:keep]] + tail)}"
        if len(text) <= MAX_SUMMARY or keep == 0:
            break
        keep -= 1
    cities = {country: all_cities[country] for country, _ in ranked[:keep]}
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
        more = f" {and_more(len(names) - k)}" if k < len(names) else ""
        places = f" ({', '.join(names[:k])}{more})" if k else ""
        parts.append(f"{count} in {country}{places}")
    return f"{prefix}: {', '.join(parts + tail)}"


_GROUP = {
    "count": 5,
    "countries": [["Germany", 3, ["Berlin", "Bonn"]], ["France", 1, ["Lyon"]]],
    "elsewhere": 1,
}


@_says("sites_added", _GROUP)
def _sites_added(p: Params) -> str:
    return _by_country(p, f"{p['count']} new sites")


@_says("sites_removed", _GROUP)
def _sites_removed(p: Params) -> str:
    return _by_country(p, f"{p['count']} sites removed")


@_says("sites_updated", _GROUP)
def _sites_updated(p: Params) -> str:
    return _by_country(p, f"{p['count']} sites updated")


@_says("sites_status_changed", {**_GROUP, "to": "RECRUITING"})
def _sites_status(p: Params) -> str:
    words = "without a status" if p.get("to") is None else status_words(p["to"])
    return _by_country(p, f"{p['count']} sites now {words}")
