"""Changes in a CTIS trial's notices, halts, results, dates and planned numbers.

- Notices (``events.trialEvents[]``: a member state and its ``events[]`` of
  ``notificationType`` and ``date``): a notice added is major when it is an early
  termination (``EARLY_TERMINATION``) or recruitment starting in a country
  (``START_OF_RECRUITMENT``, an opening), minor otherwise; a notice's date moved
  or a notice withdrawn is minor. End-of-trial notices (early termination, and
  ``END_OF_TRIAL`` — a code no recorded sample shows yet) are of kind
  ``end_of_trial``; the rest ``trial_event``.
- Temporary halts (``events.temporaryHaltList[]``, each with ``haltDate`` and
  ``plannedRestartDate``): a halt added is major (kind ``temporary_halt``), one
  updated or no longer listed minor. The halt's member state is read from
  ``mscName`` when it has one (no recorded sample shows a halt yet).
- Results (``results.summaryResults``, ``laypersonResults``,
  ``clinicalStudyReports``): any appearing is ``results_posted`` (major); any
  gone, ``results_removed`` (minor).
- Dates (the start in the EU, Part I's estimated recruitment start, end in the EU
  and global end): minor. Planned participants per member state
  (``recruitmentSubjectCount``) and outside the EEA (``rowSubjectCount``): minor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from trialwatch.diff.keys import item_field, join_parts
from trialwatch.diff.lists import match
from trialwatch.diff.model import Change, said
from trialwatch.registries.ctis.differ.normal import at, country_of, iso_date, items, part_country
from trialwatch.vocab import Significance

NOTICES_FIELD = "events.trialEvents"
HALTS_FIELD = "events.temporaryHaltList"
TRIAL_DURATION = ("authorizedApplication", "authorizedPartI", "trialDetails", "trialInformation")
TRIAL_DURATION_PATH = ".".join((*TRIAL_DURATION, "trialDuration"))
RESULTS = {
    "summary": "summaryResults",
    "layperson": "laypersonResults",
    "reports": "clinicalStudyReports",
}
"""The results a trial may post: the code a change names, the record's key."""

_MAJOR_NOTICES = frozenset({"EARLY_TERMINATION", "START_OF_RECRUITMENT"})


_END_NOTICES = {"EARLY_TERMINATION": "end_of_trial", "END_OF_TRIAL": "end_of_trial"}


def _notice_kind(code: str) -> str:
    return _END_NOTICES.get(code, "trial_event")


def _notices(rec: Mapping[str, Any]) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """(country key, notice code) -> (country name, dates in order)."""
    found: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for entry in items(rec.get("events"), "trialEvents"):
        name = str(entry.get("mscName") or "")
        for event in items(entry, "events"):
            code = str(event.get("notificationType") or "")
            key = (country_of(name), code)
            found.setdefault(key, (name, []))[1].append(str(event.get("date") or ""))
    return {key: (name, sorted(dates)) for key, (name, dates) in found.items()}


def notice_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Notices added, withdrawn or re-dated, per member state."""
    before, after = _notices(old), _notices(new)
    changes: list[Change] = []
    for key in sorted(before.keys() | after.keys()):
        name = (after.get(key) or before[key])[0]
        olds, news = before.get(key, (name, []))[1], after.get(key, (name, []))[1]
        if olds == news:
            continue
        code, field = key[1], item_field(NOTICES_FIELD, join_parts(name, key[1]))
        where = {"country": name or None, "event": code}
        if len(olds) == 1 and len(news) == 1:
            params = {**where, "from": olds[0], "to": news[0]}
            message = "ctis_event_date_changed"
            changes.append(
                said(_notice_kind(code), field, olds[0], news[0], message, params, "minor")
            )
            continue
        significance: Significance = "major" if code in _MAJOR_NOTICES else "minor"
        for date in sorted((Counter(news) - Counter(olds)).elements()):
            params = {**where, "date": date or None}
            changes.append(
                said(
                    _notice_kind(code), field, None, date, "ctis_event_added", params, significance
                )
            )
        for date in sorted((Counter(olds) - Counter(news)).elements()):
            params = {**where, "date": date or None}
            changes.append(
                said(_notice_kind(code), field, date, None, "ctis_event_removed", params, "minor")
            )
    return changes


def _halt_label(halt: Mapping[str, Any]) -> str:
    return join_parts(halt.get("mscName"), halt.get("haltDate")) or "halt"


def halt_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Temporary halts added, updated or no longer listed."""
    matched = match(
        items(old.get("events"), "temporaryHaltList"),
        items(new.get("events"), "temporaryHaltList"),
        _halt_label,
    )
    if not matched:
        return []

    def params(halt: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "country": halt.get("mscName") or None,
            "date": halt.get("haltDate"),
            "restart": halt.get("plannedRestartDate"),
        }

    changes = [
        said(
            "temporary_halt",
            item_field(HALTS_FIELD, label),
            None,
            halt,
            "ctis_halt_added",
            params(halt),
            "major",
        )
        for label, halt in matched.added
    ]
    changes += [
        said(
            "temporary_halt",
            item_field(HALTS_FIELD, label),
            halt,
            None,
            "ctis_halt_removed",
            params(halt),
            "minor",
        )
        for label, halt in matched.removed
    ]
    changes += [
        said(
            "temporary_halt",
            item_field(HALTS_FIELD, label),
            before,
            after,
            "ctis_halt_updated",
            params(after),
            "minor",
        )
        for label, before, after in matched.changed
    ]
    return changes


def posted(rec: Mapping[str, Any]) -> list[str]:
    """The results a record has posted (codes of :data:`RESULTS`)."""
    return [code for code, key in RESULTS.items() if at(rec, "results", key)]


def results_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Results appearing (major) or gone (minor)."""
    before, after = posted(old), posted(new)
    came = [code for code in after if code not in before]
    went = [code for code in before if code not in after]
    changes = []
    if came:
        changes.append(
            said(
                "results_posted",
                "results",
                before,
                after,
                "ctis_results_posted",
                {"which": came},
                "major",
            )
        )
    if went:
        changes.append(
            said(
                "results_removed",
                "results",
                before,
                after,
                "ctis_results_removed",
                {"which": went},
                "minor",
            )
        )
    return changes


DATES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("start_eu", "start_date", ("startDateEU",), "startDateEU"),
    (
        "recruitment_start",
        "start_date",
        (*TRIAL_DURATION, "trialDuration", "estimatedRecruitmentStartDate"),
        "estimatedRecruitmentStartDate",
    ),
    (
        "end",
        "completion_date",
        (*TRIAL_DURATION, "trialDuration", "estimatedEndDate"),
        "estimatedEndDate",
    ),
    (
        "global_end",
        "completion_date",
        (*TRIAL_DURATION, "trialDuration", "estimatedGlobalEndDate"),
        "estimatedGlobalEndDate",
    ),
)
"""(which, kind, path, key): the dates compared, the path of each and its last key."""


def date_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The start and expected end dates that moved (minor)."""
    changes = []
    for which, kind, path, _ in DATES:
        before, after = iso_date(at(old, *path)), iso_date(at(new, *path))
        if before != after:
            params = {"which": which, "from": before, "to": after}
            field = ".".join(path)
            changes.append(said(kind, field, before, after, "ctis_date_changed", params, "minor"))
    return changes


def planned(rec: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """Country key -> (country name, planned participants); ``""`` is outside the EEA."""
    application = rec.get("authorizedApplication")
    found = {"": ("", at(application, "authorizedPartI", "rowSubjectCount"))}
    for part in items(application, "authorizedPartsII"):
        name = part_country(part)
        found[country_of(name)] = (name, part.get("recruitmentSubjectCount"))
    return found


def enrollment_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], shared: set[str]
) -> list[Change]:
    """Planned participants per member state kept (``shared`` keys) and outside the EEA."""
    before, after = planned(old), planned(new)
    changes = []
    for key in sorted({""} | shared):
        name, count = after.get(key, ("", None))
        was = before.get(key, ("", None))[1]
        if was == count:
            continue
        params = {"country": name or None, "from": was, "to": count}
        field = (
            f"authorizedApplication.authorizedPartsII[{name}].recruitmentSubjectCount"
            if key
            else "authorizedApplication.authorizedPartI.rowSubjectCount"
        )
        changes.append(
            said("enrollment", field, was, count, "ctis_enrollment_changed", params, "minor")
        )
    return changes
