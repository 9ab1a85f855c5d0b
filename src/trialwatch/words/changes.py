"""The English catalogue of changes: a message key and its parameters, in words.

A change speaks in codes (``("status_changed", {"from": "RECRUITING", "to":
"COMPLETED"})``); :func:`describe` says it: ``"Status: Recruiting → Completed"``.
Every message is in :data:`CATALOGUE` with an example of its parameters, which the
tests render. A summary is at most :data:`MAX_SUMMARY` characters: each message
clips its own registry text to fit and the whole is clipped at the end (except a
new trial's line, which never was, and a stored summary said verbatim).

Parameters are JSON and locale-neutral: status, phase, sex and type codes, dates
as ISO text, counts, and names and labels as the registry gives them.

>>> describe("status_changed", {"from": "RECRUITING", "to": "COMPLETED"})
'Status: Recruiting → Completed'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trialwatch.words import supported
from trialwatch.words.ctis_changes import CTIS_SAYINGS
from trialwatch.words.items import ITEM_SAYINGS
from trialwatch.words.saying import MAX_SUMMARY, Params, Say, from_to, sayings
from trialwatch.words.terms import (
    NOT_GIVEN,
    age_words,
    clip,
    date_type_words,
    date_words,
    join_words,
    phases_words,
    registry_words,
    sex_words,
    some_of,
    status_words,
    std_ages_words,
)

__all__ = ["CATALOGUE", "MAX_SUMMARY", "SUMMARY_ONLY", "describe", "stored"]

SUMMARY_ONLY = "summary_only"
"""The message of a change stored before changes had messages: its summary, verbatim."""

_SAYINGS, _says = sayings()


@_says(SUMMARY_ONLY, {"text": "Status: Recruiting → Completed"}, clipped=False)
def _summary_only(p: Params) -> str:
    return str(p["text"])


# --- the study as a whole -------------------------------------------------------------------


def study_words(registry_id: Any, name: Any) -> str:
    """A short name for a study: ``"ARDA (NCT05225675)"``, else its title, clipped."""
    if not name:
        return str(registry_id or "Unknown study")
    text = clip(" ".join(str(name).split()), 60)
    return f"{text} ({registry_id})" if registry_id else text


@_says(
    "new_study",
    {"id": "NCT05225675", "title": "ARGX-117 in MMN", "acronym": "ARDA", "status": "RECRUITING"},
    clipped=False,
)
def _new_study(p: Params) -> str:
    tail = f" ({p['acronym']})" if p.get("acronym") else ""
    if p.get("status") is not None:
        tail += f" — {status_words(p['status'])}"
    if p.get("title"):
        return f'New trial: "{clip(str(p["title"]), MAX_SUMMARY - len(tail) - 13)}"' + tail
    return f"New trial: {p.get('id') or 'untitled'}" + tail


@_says("left_watchlist", {"id": "NCT05225675", "name": "ARDA", "watchlist": "MMN"})
def _left_watchlist(p: Params) -> str:
    return f'{study_words(p.get("id"), p.get("name"))} no longer matches "{p["watchlist"]}"'


@_says("removed_from_registry", {"id": "NCT05225675", "name": "ARDA", "registry": "ctgov"})
def _removed(p: Params) -> str:
    label = study_words(p.get("id"), p.get("name"))
    return f"{label} is no longer listed on {registry_words(p['registry'])}"


@_says("results_posted", {})
def _results_posted(p: Params) -> str:
    return "Results posted"


@_says("results_removed", {})
def _results_removed(p: Params) -> str:
    return "Results no longer posted"


_PARTS: Mapping[str, str] = {
    "identifiers": "Study identifiers updated",
    "status": "Other status details updated",
    "responsible_party": "Responsible party details updated",
    "oversight": "Oversight details updated",
    "description": "Study description updated",
    "keywords": "Keywords updated",
    "design": "Study design details updated",
    "arms_interventions": "Arm and intervention details updated",
    "outcomes": "Outcome measures updated",
    "eligibility": "Other eligibility details updated",
    "contacts": "Study officials or contact details updated",
    "references": "References updated",
    "data_sharing": "Data sharing plan updated",
    "results": "Posted results updated",
    "documents": "Study documents updated",
    "annotations": "Registry annotations updated",
    "bookkeeping": "Registry bookkeeping updated",
}
PARTS = frozenset(_PARTS)
"""The parts of a record a ``details_updated`` change may name (else ``"other"``)."""


@_says("details_updated", {"part": "description"})
def _details(p: Params) -> str:
    return _PARTS.get(str(p.get("part")), "Other registry details updated")


# --- status and dates -----------------------------------------------------------------------


@_says("status_changed", {"from": "RECRUITING", "to": "UNKNOWN", "last_known": "RECRUITING"})
def _status(p: Params) -> str:
    text = from_to("Status", status_words(p["from"]), status_words(p["to"]), p["from"] is None)
    if "last_known" in p:
        text += f" (last known: {status_words(p['last_known'])})"
    return text


@_says("last_known_status_changed", {"from": "RECRUITING", "to": "ACTIVE_NOT_RECRUITING"})
def _last_known(p: Params) -> str:
    return f"Last known status: {status_words(p['from'])} → {status_words(p['to'])}"


@_says("expanded_access_available", {"id": "NCT02299791"})
def _access_available(p: Params) -> str:
    return "Expanded access available" + (f" ({p['id']})" if p.get("id") else "")


@_says("expanded_access_ended", {})
def _access_ended(p: Params) -> str:
    return "Expanded access no longer available"


@_says("expanded_access_status", {"from": "AVAILABLE", "to": "NO_LONGER_AVAILABLE"})
def _access_status(p: Params) -> str:
    return from_to("Expanded access", status_words(p["from"]), status_words(p["to"]), False)


@_says("why_stopped", {"text": "Sponsor decision"})
def _why_stopped(p: Params) -> str:
    head = "Reason for stopping: "
    return f'{head}"{clip(str(p["text"]), MAX_SUMMARY - len(head))}"'


@_says("why_stopped_removed", {})
def _why_stopped_removed(p: Params) -> str:
    return "Reason for stopping removed"


_DATES: Mapping[str, str] = {
    "start": "Start",
    "primary_completion": "Primary completion",
    "completion": "Completion",
    "first_posted": "First posted",
}


def _date_text(value: Any, with_day: bool) -> str:
    date = value.get("date") if isinstance(value, Mapping) else None
    if date is None:
        return NOT_GIVEN
    words = date_words(date, with_day=with_day)
    kind = date_type_words(value.get("type"))
    return f"{kind} {words}" if kind else words


@_says(
    "date_changed",
    {
        "which": "primary_completion",
        "from": {"date": "2027-03", "type": "ESTIMATED"},
        "to": {"date": "2028-05-01", "type": "ESTIMATED"},
    },
)
def _date(p: Params) -> str:
    old, new = p["from"], p["to"]
    before = old.get("date") if isinstance(old, Mapping) else None
    after = new.get("date") if isinstance(new, Mapping) else None
    # Within one month the day is what moved, so show it.
    with_day = (
        isinstance(before, str)
        and isinstance(after, str)
        and before != after
        and before[:7] == after[:7]
    )
    title = _DATES[p["which"]]
    return from_to(title, _date_text(old, with_day), _date_text(new, with_day), old is None)


_BOOKKEEPING: Mapping[str, str] = {
    "last_update_posted": "Last update posted",
    "last_update_submitted": "Last update submitted",
    "status_verified": "Status last verified",
}


@_says("bookkeeping", {"which": "last_update_posted", "value": "2025-03-14"})
def _bookkeeping(p: Params) -> str:
    return f"{_BOOKKEEPING[p['which']]}: {p['value'] or NOT_GIVEN}"


# --- what is studied --------------------------------------------------------------------------

_TITLES: Mapping[str, str] = {"brief": "Title", "official": "Official title"}


@_says("title_changed", {"which": "brief", "text": "ARGX-117 in Adults With MMN"})
def _title(p: Params) -> str:
    title = _TITLES[p["which"]]
    budget = MAX_SUMMARY - len(title) - len(' changed: ""')
    return f'{title} changed: "{clip(str(p["text"]), budget)}"'


@_says("title_removed", {"which": "official"})
def _title_removed(p: Params) -> str:
    return f"{_TITLES[p['which']]} removed"


@_says("acronym_changed", {"from": "ARDA", "to": "ARDA-2"})
def _acronym(p: Params) -> str:
    return from_to("Acronym", str(p["from"]), str(p["to"]), not p["from"])


@_says("acronym_removed", {"was": "ARDA"})
def _acronym_removed(p: Params) -> str:
    return f"Acronym removed (was {p['was']})"


def _enrollment_text(info: Any) -> str:
    count = info.get("count") if isinstance(info, Mapping) else None
    if count is None:
        return NOT_GIVEN
    words = date_type_words(info.get("type"))  # EnrollmentType: ESTIMATED/ACTUAL as dates
    return f"{count} {words}" if words else str(count)


@_says(
    "enrollment_changed",
    {"from": {"count": 40, "type": "ESTIMATED"}, "to": {"count": 52, "type": "ACTUAL"}},
)
def _enrollment(p: Params) -> str:
    old, new = p["from"], p["to"]
    return from_to("Enrollment", _enrollment_text(old), _enrollment_text(new), old is None)


@_says("phase_changed", {"from": ["PHASE2"], "to": ["PHASE2", "PHASE3"]})
def _phase(p: Params) -> str:
    return f"Phase: {phases_words(p['from'])} → {phases_words(p['to'])}"


@_says("conditions_changed", {"added": ["CIDP"], "removed": ["MMN"]})
def _conditions(p: Params) -> str:
    parts = []
    if p.get("added"):
        parts.append("added " + join_words(p["added"], 50))
    if p.get("removed"):
        parts.append("removed " + join_words(p["removed"], 50))
    return "Conditions: " + "; ".join(parts) if parts else "Conditions updated"


# --- who can take part --------------------------------------------------------------------------


@_says("minimum_age_changed", {"from": "18 Years", "to": None})
def _min_age(p: Params) -> str:
    return f"Minimum age: {age_words(p['from'], 'none')} → {age_words(p['to'], 'none')}"


@_says("maximum_age_changed", {"from": None, "to": "75 Years"})
def _max_age(p: Params) -> str:
    return f"Maximum age: {age_words(p['from'], 'no limit')} → {age_words(p['to'], 'no limit')}"


@_says("sex_changed", {"from": "ALL", "to": "FEMALE"})
def _sex(p: Params) -> str:
    return f"Sex: {sex_words(p['from'])} → {sex_words(p['to'])}"


def _volunteers_words(value: Any) -> str:
    if value is None:
        return NOT_GIVEN
    return "accepted" if value else "not accepted"


@_says("healthy_volunteers_changed", {"from": False, "to": True})
def _volunteers(p: Params) -> str:
    return f"Healthy volunteers: {_volunteers_words(p['from'])} → {_volunteers_words(p['to'])}"


@_says("age_groups_changed", {"from": ["ADULT"], "to": ["ADULT", "OLDER_ADULT"]})
def _age_groups(p: Params) -> str:
    return f"Age groups: {std_ages_words(p['from'])} → {std_ages_words(p['to'])}"


_CRITERIA_ADDED = {"inclusion": "New inclusion", "exclusion": "New exclusion", "": "New criterion"}
_CRITERIA_REMOVED = {
    "inclusion": "Inclusion removed",
    "exclusion": "Exclusion removed",
    "": "Criterion removed",
}


@_says(
    "criteria_changed",
    {"added": [["exclusion", "IVIg within 12 weeks"]], "removed": [["inclusion", "Age 18-80"]]},
)
def _criteria(p: Params) -> str:
    parts = [f"{_CRITERIA_ADDED[section]}: {text}" for section, text in p["added"]]
    parts += [f"{_CRITERIA_REMOVED[section]}: {text}" for section, text in p["removed"]]
    return some_of(parts, MAX_SUMMARY)


@_says("criteria_added", {})
def _criteria_added(p: Params) -> str:
    return "Eligibility criteria added"


@_says("criteria_removed", {})
def _criteria_removed(p: Params) -> str:
    return "Eligibility criteria removed"


@_says("criteria_reformatted", {})
def _criteria_reformatted(p: Params) -> str:
    return "Eligibility criteria reformatted"


# --- who runs it ----------------------------------------------------------------------------------


@_says("sponsor_changed", {"from": "argenx", "to": "argenx BV"})
def _sponsor(p: Params) -> str:
    return f"Sponsor: {p['from'] or NOT_GIVEN} → {p['to'] or NOT_GIVEN}"


@_says("sponsor_updated", {"name": "argenx"})
def _sponsor_updated(p: Params) -> str:
    return f"Sponsor details updated: {p['name'] or NOT_GIVEN}"


CATALOGUE: Mapping[str, Say] = {**_SAYINGS, **ITEM_SAYINGS, **CTIS_SAYINGS}
"""Every message key, with how it is said and an example of its parameters."""


def describe(message: str, params: Mapping[str, Any], locale: str = "en") -> str:
    """The words of a change's ``message`` and ``params`` in ``locale`` (only ``en`` ships).

    Raises ``KeyError`` for a message not in :data:`CATALOGUE`.
    """
    supported(locale)
    say = CATALOGUE[message]
    text = say.render(params)
    return clip(text, MAX_SUMMARY) if say.clipped else text


def stored(
    message: str | None, params: Mapping[str, Any] | None, summary: str
) -> tuple[str, dict[str, Any]]:
    """A stored change's message and params; a row written before messages says its summary."""
    if message is None:
        return SUMMARY_ONLY, {"text": summary}
    return message, dict(params or {})
