"""Compare two versions of a ClinicalTrials.gov API v2 study record.

Pure: no I/O, no clock, no database. :func:`diff_records` returns one
:class:`~trialwatch.diff.model.Change` per thing a reader would call a change,
sorted major first. Every difference between the records yields at least one
change: fields outside the vocabulary become one ``other`` change (noise) per
module, so ``diff_records(a, b) == []`` exactly when ``a`` and ``b`` are equal
up to the order of keyed lists (sites, arms, interventions, collaborators,
central contacts, officials, primary and secondary outcomes, documents,
conditions, phases, age groups).

How it stays fast: each section, then each module, then each field is compared
with ``==`` first, and only the parts that differ are read further.

``results_posted`` (``hasResults`` becoming true) stands for the whole event: the
results section and the results dates that appear with it give no other change.

Significance: **major** for a new study, any overall status change (``withdrawn``
and ``stopped`` included), a reason for stopping, results posted, expanded access
becoming available or not, removal from the registry, sites opening (a site added
as recruiting, not yet recruiting or available, or a site's status becoming
recruiting or available, re-opening included), eligibility criteria lines added
or removed, and the primary completion date moving by 90 days or more; **minor**
for other dates and date moves, enrollment, titles, phase, conditions, other
eligibility fields, arms, interventions, outcome measures, results publications,
documents, sponsors, contacts and officials, sites removed, closing or corrected,
and leaving a watchlist; **noise** for registry bookkeeping, reformatted criteria,
site zip code or state fixes, and anything outside the vocabulary.

Why "major" and not a lower default: a subscriber with the default settings gets
major changes only (``subscriptions.py``), and "major" is meant to say "a patient
should know". A patient deciding whether to ask for a trial needs to hear that
it is open to them (status, sites opening, expanded access), who it now takes or
excludes (criteria lines), that it was delayed a season or more, and what it
found (results). So those are major here, in the diff, rather than lowering the
default to "minor", which would mail every contact, wording and date nudge and
teach readers to skip the digest. A criteria text only reformatted is noise, and
a date moving less than 90 days stays minor, so the default stays quiet.

``left_watchlist`` is minor: leaving a watchlist is the consequence of another
change (a status or condition edit, reported with its own significance) or of
the watchlist's own criteria being edited, and it must not outrank its cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trialwatch.diff.keys import safe_key
from trialwatch.diff.model import Change, said, sort_key
from trialwatch.registries.ctgov.differ.fields import SECTION_FIELDS, Context, Handler
from trialwatch.words.changes import study_words

NCT_ID_FIELD = "protocolSection.identificationModule.nctId"
WATCHLIST_FIELD = "watchlist"

_MISSING: Any = object()

_OTHER_PARTS: Mapping[str, str] = {
    "protocolSection.identificationModule": "identifiers",
    "protocolSection.statusModule": "status",
    "protocolSection.sponsorCollaboratorsModule": "responsible_party",
    "protocolSection.oversightModule": "oversight",
    "protocolSection.descriptionModule": "description",
    "protocolSection.conditionsModule": "keywords",
    "protocolSection.designModule": "design",
    "protocolSection.armsInterventionsModule": "arms_interventions",
    "protocolSection.outcomesModule": "outcomes",
    "protocolSection.eligibilityModule": "eligibility",
    "protocolSection.contactsLocationsModule": "contacts",
    "protocolSection.referencesModule": "references",
    "protocolSection.ipdSharingStatementModule": "data_sharing",
    "resultsSection": "results",
    "documentSection": "documents",
    "annotationSection": "annotations",
    "derivedSection": "bookkeeping",
}
"""The part of the record (a ``details_updated`` parameter) each module or section is."""


def diff_records(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Change]:
    """The changes from ``old`` to ``new`` (two versions of one study), major first.

    ``old=None`` means the study is new: one ``new_study`` change.
    """
    if old is None:
        return [_new_study(new)]
    if old is new:
        return []
    changes: list[Change] = []
    results = _results_change(old, new)
    ctx = Context(
        results_posted=results is not None and results.kind == "results_posted", old=old, new=new
    )
    if results is not None:
        changes.append(results)
    for key in _differing(old, new):
        before, after = old.get(key, _MISSING), new.get(key, _MISSING)
        if (key == "hasResults" and results is not None) or (
            key == "resultsSection" and ctx.results_posted
        ):
            continue
        if not safe_key(key):
            changes.append(_other("", old, new))
            break
        changes += _section(key, before, after, ctx, SECTION_FIELDS.get(key, {}))
    changes.sort(key=sort_key)
    return changes


def left_watchlist(record: Mapping[str, Any], watchlist_name: str) -> Change:
    """The change for ``record`` no longer matching a watchlist (minor).

    ``field`` is ``"watchlist"``, ``old`` the watchlist's name and ``new`` ``None``.
    """
    params = {**study_names(record), "watchlist": watchlist_name}
    return said(
        "left_watchlist", WATCHLIST_FIELD, watchlist_name, None, "left_watchlist", params, "minor"
    )


def removed_from_registry(record: Mapping[str, Any]) -> Change:
    """The change for ``record`` no longer being served by the registry (major)."""
    params = {**study_names(record), "registry": "ctgov"}
    nct_id = _nct_id(record)
    message = "removed_from_registry"
    return said(message, NCT_ID_FIELD, nct_id, None, message, params, "major")


def study_names(record: Mapping[str, Any]) -> dict[str, Any]:
    """What names a study in a change: its NCT ID and its acronym, else its title."""
    ident = _module(record, "identificationModule")
    name = ident.get("acronym") or ident.get("briefTitle") or ident.get("officialTitle")
    return {"id": _nct_id(record), "name": name or None}


# --- internals ----------------------------------------------------------------------------


def _module(record: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = record.get("protocolSection")
    module = section.get(name) if isinstance(section, Mapping) else None
    return module if isinstance(module, Mapping) else {}


def _nct_id(record: Mapping[str, Any]) -> Any:
    return _module(record, "identificationModule").get("nctId")


def _new_study(record: Mapping[str, Any]) -> Change:
    ident = _module(record, "identificationModule")
    nct_id = ident.get("nctId")
    params = {
        "id": nct_id,
        "title": " ".join(str(ident.get("briefTitle") or ident.get("officialTitle") or "").split()),
        "acronym": ident.get("acronym") or None,
        "status": _module(record, "statusModule").get("overallStatus"),
    }
    return said("new_study", NCT_ID_FIELD, None, nct_id, "new_study", params, "major")


def _results_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> Change | None:
    before, after = old.get("hasResults"), new.get("hasResults")
    if after and not before:
        return said("results_posted", "hasResults", before, after, "results_posted", {}, "major")
    if before and not after:
        return said("results_removed", "hasResults", before, after, "results_removed", {}, "minor")
    return None


def _differing(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The keys whose values differ, present in either mapping.

    The order does not matter (changes are sorted at the end). One pass over
    ``new`` in a comprehension, the cheapest loop Python has, then the keys only
    ``old`` has, looked for only when the key counts say there are some.
    """
    names = [name for name, value in new.items() if old.get(name, _MISSING) != value]
    if len(new) - sum(1 for name in names if name not in old) != len(old):
        names += [name for name in old if name not in new]
    return names


def _is_map(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _value(value: Any) -> Any:
    return None if value is _MISSING else value


def _section(
    path: str, before: Any, after: Any, ctx: Context, fields: Mapping[str, Mapping[str, Handler]]
) -> list[Change]:
    """Changes within one section, module by module."""
    if not _is_map(before) or not _is_map(after):
        return [_other(path, _value(before), _value(after))]
    changes: list[Change] = []
    for name in _differing(before, after):
        old, new = before.get(name, _MISSING), after.get(name, _MISSING)
        if not safe_key(name):
            return [_other(path, before, after)]
        changes += _fields(f"{path}.{name}", old, new, ctx, fields.get(name, {}))
    return changes


def _fields(
    path: str, before: Any, after: Any, ctx: Context, handlers: Mapping[str, Handler]
) -> list[Change]:
    """Changes within one module: each handled field, then one ``other`` for the rest."""
    if not _is_map(before) or not _is_map(after):
        return [_other(path, _value(before), _value(after))]
    changes: list[Change] = []
    rest: list[str] = []
    for name in _differing(before, after):
        handler = handlers.get(name)
        old, new = before.get(name), after.get(name)
        found = None if handler is None or old == new else handler(f"{path}.{name}", old, new, ctx)
        if found is None:
            rest.append(name)
        else:
            changes += found
    if len(rest) == 1 and safe_key(rest[0]):
        changes.append(_other(f"{path}.{rest[0]}", before.get(rest[0]), after.get(rest[0])))
    elif rest:
        changes.append(_other(path, before, after))
    return changes


def _other(path: str, old: Any, new: Any) -> Change:
    """One noise change at the deepest path that holds every difference between the values."""
    while _is_map(old) and _is_map(new):
        differing = _differing(old, new)
        if len(differing) != 1 or not safe_key(differing[0]):
            break
        key = differing[0]
        path, old, new = f"{path}.{key}", old.get(key), new.get(key)
    return said("other", path, old, new, "details_updated", {"part": _part(path)}, "noise")


def _part(path: str) -> str:
    parts = path.split(".")
    for prefix in (".".join(parts[:2]), parts[0]):
        if prefix in _OTHER_PARTS:
            return _OTHER_PARTS[prefix]
    return "other"


def study_label(record: Mapping[str, Any]) -> str:
    """A short name for a study: ``"ARDA (NCT05225675)"``, else its brief title, clipped."""
    names = study_names(record)
    return study_words(names["id"], names["name"])
