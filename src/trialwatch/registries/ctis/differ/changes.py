"""Compare two versions of an EU CTIS trial (the ``/retrieve`` dossier).

Pure: no I/O, no clock. :func:`diff_records` returns one
:class:`~trialwatch.diff.model.Change` per thing a reader would call a change,
sorted major first, in the same words as for CT.gov where the thing is the same
(sites, eligibility lines, titles, conditions, contacts) and in CTIS's own where
it is not (public statuses, countries, notices, halts).

What is never a change: ctrdata's fields, ``publishDate``, the numeric ids of
nested objects, translation uuids, HTML entities, the order of lists, and the
2024 → 2026 API drift (``ctStatus`` text or number, ``trialCountries`` text or
list, ``startDateEU`` as ``yyyy-MM-dd`` or ``dd/MM/yyyy``, ``therapeuticAreas`` as
text or a list of one, ``trialRegion`` as text or code): see
:mod:`~trialwatch.registries.ctis.differ.normal`. A status not given on one side
(a field one API had and the other has not) is said, but minor; a country's status
given on one side only is not said (the 2024 retrieve gave none, only the search
text did).

Every other difference is said: what the vocabulary does not name becomes one
``other`` change (noise) per part of the record — the listing fields at the top,
Part I, the member states' parts II, the applications and decisions, the
notices, the results, the documents, the corrective measures — at the deepest
path that holds all of that part's differences.

Significance, as for CT.gov (see
:mod:`trialwatch.registries.ctgov.differ.changes`): **major** is what a patient
should know — a new trial, the trial's public status changing, a country added,
a country's status becoming recruiting (3, 4) or stopping early (6 temporarily
halted, 7 suspended, 10 revoked), a site opening, recruitment starting in a
country, an early termination, a temporary halt, results posted, eligibility
lines added or removed; **minor**: other country statuses, a country gone, sites
removed or corrected, investigators, dates, planned participants, titles,
conditions, sponsor contacts, notices re-dated or withdrawn; **noise**: the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trialwatch.diff.model import Change, said, sort_key
from trialwatch.registries.ctis.differ import events, partone, sites
from trialwatch.registries.ctis.differ.normal import (
    Country,
    at,
    countries,
    public_status,
    record,
)
from trialwatch.registries.ctis.differ.residue import other_changes
from trialwatch.vocab import Significance

CT_NUMBER_FIELD = "ctNumber"
STATUS_FIELD = "ctPublicStatusCode"
COUNTRIES_FIELD = "authorizedApplication.memberStatesConcerned"

COUNTRY_MAJOR = frozenset({3, 4, 6, 7, 10})
"""A country's public status becoming one of these is major: it opens, or stops early."""


def diff_records(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Change]:
    """The changes from ``old`` to ``new`` (two retrieve records of one trial), major first.

    ``old=None`` means the trial is new: one ``new_study`` change.
    """
    after = record(new)
    if old is None:
        return [_new_study(after)]
    before = record(old)
    if before == after:
        return []
    old_countries, new_countries = countries(before), countries(after)
    shared = old_countries.keys() & new_countries.keys()
    changes = _status_changes(before, after)
    changes += _country_changes(old_countries, new_countries)
    changes += sites.site_changes(before, after, new_countries)
    changes += events.notice_changes(before, after)
    changes += events.halt_changes(before, after)
    changes += events.results_changes(before, after)
    changes += events.date_changes(before, after)
    changes += events.enrollment_changes(before, after, shared)
    changes += partone.criteria_changes(before, after)
    changes += partone.title_changes(before, after)
    changes += partone.condition_changes(before, after)
    changes += partone.contact_changes(before, after)
    results_moved = events.posted(before) != events.posted(after)
    changes += other_changes(before, after, shared, results_moved)
    changes.sort(key=sort_key)
    return changes


def study_names(rec: Mapping[str, Any]) -> dict[str, Any]:
    """What names a trial: its EU CT number, its public title and its sponsor's code."""
    ids = at(rec, *partone.IDENTIFIERS)
    title = at(ids, "publicTitle") or at(ids, "fullTitle") or ""
    return {
        "id": rec.get("ctNumber"),
        "title": " ".join(str(title).split()),
        "code": at(ids, "shortTitle") or rec.get("shortTitle") or None,
    }


def _new_study(rec: Mapping[str, Any]) -> Change:
    params = {**study_names(rec), "status": public_status(rec)}
    number = rec.get("ctNumber")
    return said("new_study", CT_NUMBER_FIELD, None, number, "ctis_new_study", params, "major")


def _status_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    before, after = public_status(old), public_status(new)
    if before == after:
        return []
    params = {"from": before, "to": after}
    significance: Significance = "minor" if before is None or after is None else "major"
    message = "ctis_status_changed"
    return [said("overall_status", STATUS_FIELD, before, after, message, params, significance)]


def _country_changes(old: Mapping[str, Country], new: Mapping[str, Country]) -> list[Change]:
    changes = []
    for key in sorted(new.keys() - old.keys()):
        country = new[key]
        field, params = f"{COUNTRIES_FIELD}[{country.name}]", _country(country)
        params["status"] = country.status
        changes.append(
            said("country_added", field, None, params, "ctis_country_added", params, "major")
        )
    for key in sorted(old.keys() - new.keys()):
        country = old[key]
        field, params = f"{COUNTRIES_FIELD}[{country.name}]", _country(country)
        changes.append(
            said("country_removed", field, params, None, "ctis_country_removed", params, "minor")
        )
    for key in sorted(old.keys() & new.keys()):
        was, now = old[key].status, new[key].status
        if was == now or was is None or now is None:
            continue
        field = f"{COUNTRIES_FIELD}[{new[key].name}].mscPublicStatusCode"
        params = {**_country(new[key]), "from": was, "to": now}
        significance: Significance = "major" if now in COUNTRY_MAJOR else "minor"
        message = "ctis_country_status_changed"
        changes.append(said("country_status", field, was, now, message, params, significance))
    return changes


def _country(country: Country) -> dict[str, Any]:
    return {"country": country.name}
