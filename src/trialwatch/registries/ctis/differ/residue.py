"""What the vocabulary does not name: one ``other`` change (noise) per part of the record.

Each part is compared with what the differ's other modules read taken out (a
site, a criterion's text, a title, a notice's code and date...), its lists in a
fixed order and its empty values left out, so that a difference already said is
not said twice and a difference of order or of emptiness is none. What remains
different is one change per part, at the deepest path holding all of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trialwatch.diff.keys import canonical, safe_key
from trialwatch.diff.model import Change, said
from trialwatch.registries.ctis.differ import events, partone
from trialwatch.registries.ctis.differ.normal import at, country_of, part_country

_GONE: Any = object()

CONTAINERS = {
    "authorizedApplication": "applications",
    "events": "events",
    "results": "results",
    "documents": "documents",
    "correctiveMeasures": "corrective_measures",
}
"""The record's parts below its top level, and each one's code (the rest is ``listing``)."""

SAID_AT_TOP = frozenset(
    {
        "ctStatus",
        "ctPublicStatus",
        "ctPublicStatusCode",
        "trialCountries",
        "recruitmentStatus",
        "startDateEU",
    }
)
"""Top-level fields the status, country and date changes read (in one API or another)."""

_REGIONS = {"in both eea and non-eea": 3}
"""``trialRegion`` as text (before 2024-06-17) and its code since (the one text recorded)."""

_PART_I_SAID: tuple[tuple[str, ...], ...] = (
    ("rowCountriesInfo",),
    ("rowSubjectCount",),
    ("medicalConditions", "medicalCondition"),
    ("trialDetails", "clinicalTrialIdentifiers", "publicTitle"),
    ("trialDetails", "clinicalTrialIdentifiers", "fullTitle"),
    *(
        ("trialDetails", "trialInformation", "eligibilityCriteria", key, key)
        for _, key in partone.SECTIONS
    ),
    *(("trialDetails", "trialInformation", "trialDuration", key) for *_, key in events.DATES[1:]),
    ("sponsors", "publicContacts"),
    ("sponsors", "scientificContacts"),
)


def _drop(value: Any, path: tuple[str, ...]) -> Any:
    """``value`` without what is at ``path`` (lists on the way are walked item by item)."""
    if isinstance(value, list):
        return [_drop(item, path) for item in value]
    if not isinstance(value, Mapping) or path[0] not in value:
        return value
    out = dict(value)
    if len(path) == 1:
        del out[path[0]]
    else:
        out[path[0]] = _drop(value[path[0]], path[1:])
    return out


def _tidy(value: Any) -> Any:
    """``value`` with its empty values left out and its lists in a fixed order."""
    if isinstance(value, Mapping):
        pairs = ((key, _tidy(item)) for key, item in value.items())
        return {key: item for key, item in pairs if item not in (None, "", [], {})}
    if isinstance(value, list):
        kept = (item for item in map(_tidy, value) if item not in (None, "", [], {}))
        return sorted(kept, key=canonical)
    return value


def _listing(rec: Mapping[str, Any]) -> dict[str, Any]:
    top = {k: v for k, v in rec.items() if k not in CONTAINERS and k not in SAID_AT_TOP}
    if isinstance(top.get("therapeuticAreas"), str):
        top["therapeuticAreas"] = [top["therapeuticAreas"]]
    region = top.get("trialRegion")
    if isinstance(region, str):
        top["trialRegion"] = _REGIONS.get(" ".join(region.split()).casefold(), region)
    if top.get("trialRegionCode") == top.get("trialRegion"):
        top.pop("trialRegionCode", None)
    return top


def _applications(rec: Mapping[str, Any], shared: set[str]) -> Any:
    application = rec.get("authorizedApplication")
    if not isinstance(application, Mapping):
        return application
    rest = {
        k: v for k, v in application.items() if k not in {"authorizedPartI", "authorizedPartsII"}
    }
    states = rest.get("memberStatesConcerned")
    if isinstance(states, list):
        rest["memberStatesConcerned"] = [
            _drop(state, ("mscPublicStatusCode",))
            for state in states
            if not isinstance(state, Mapping) or country_of(state.get("mscName")) in shared
        ]
    return rest


def _parts_ii(rec: Mapping[str, Any], shared: set[str]) -> Any:
    parts = at(rec, "authorizedApplication", "authorizedPartsII")
    if not isinstance(parts, list) or not all(isinstance(part, Mapping) for part in parts):
        return parts
    found: dict[str, Any] = {}
    for part in parts:
        name = part_country(part)
        if country_of(name) in shared or not name:
            kept = {
                k: v for k, v in part.items() if k not in {"trialSites", "recruitmentSubjectCount"}
            }
            found.setdefault(f"[{name}]", []).append(kept)
    return found


def _events(rec: Mapping[str, Any]) -> Any:
    notices = _tidy(
        _drop(
            _drop(rec.get("events"), ("temporaryHaltList",)),
            ("trialEvents", "events", "notificationType"),
        )
    )
    notices = _tidy(_drop(notices, ("trialEvents", "events", "date")))
    if isinstance(notices, Mapping) and isinstance(notices.get("trialEvents"), list):
        notices = dict(notices)
        notices["trialEvents"] = [
            entry
            for entry in notices["trialEvents"]
            if not isinstance(entry, Mapping) or entry.keys() - {"mscName"}
        ]
    return notices


def _parts(rec: Mapping[str, Any], shared: set[str], results_moved: bool) -> dict[str, Any]:
    """Each part's residue, by the part's path (``""`` for the listing fields)."""
    part_i = at(rec, "authorizedApplication", "authorizedPartI")
    for path in _PART_I_SAID:
        part_i = _drop(part_i, path)
    return {
        "": _listing(rec),
        "authorizedApplication.authorizedPartI": part_i,
        "authorizedApplication.authorizedPartsII": _parts_ii(rec, shared),
        "authorizedApplication": _applications(rec, shared),
        "events": _events(rec),
        "results": None if results_moved else rec.get("results"),
        "documents": rec.get("documents"),
        "correctiveMeasures": rec.get("correctiveMeasures"),
    }


_PART_CODES = {
    "": "listing",
    "authorizedApplication.authorizedPartI": "part_i",
    "authorizedApplication.authorizedPartsII": "part_ii",
    **CONTAINERS,
}


def other_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], shared: set[str], results_moved: bool
) -> list[Change]:
    """One noise change per part that still differs once the said differences are out."""
    before, after = _parts(old, shared, results_moved), _parts(new, shared, results_moved)
    changes = []
    for path, was in before.items():
        tidied_old, tidied_new = _tidy(was), _tidy(after[path])
        if tidied_old != tidied_new:
            changes.append(_other(_PART_CODES[path], path, tidied_old, tidied_new))
    return changes


def _join(path: str, key: str) -> str:
    if key.startswith("["):
        return f"{path}{key}"
    return f"{path}.{key}" if path else key


def _other(part: str, path: str, old: Any, new: Any) -> Change:
    """A noise change at the deepest path that holds every difference between the values."""
    while isinstance(old, Mapping) and isinstance(new, Mapping):
        differing = [key for key in old.keys() | new.keys() if old.get(key) != new.get(key)]
        if len(differing) != 1 or not (safe_key(differing[0]) or differing[0].startswith("[")):
            break
        key = differing[0]
        path, old, new = _join(path, key), old.get(key), new.get(key)
    return said("other", path, old, new, "ctis_details_updated", {"part": part}, "noise")
