"""What each field of ``protocolSection`` means to a reader when it changes.

:data:`PROTOCOL_FIELDS` maps module name -> field name -> handler. A handler gets
the field's path and its old and new values (``None`` where absent; the caller
calls it only when they differ) and returns the changes, ``[]`` when the values
are equivalent (a reordered keyed list), or ``None`` to leave the difference to
the generic ``other`` change (a value of a shape the handler does not read).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trialwatch.diff.contacts import CONTACTS, OFFICIALS
from trialwatch.diff.criteria import criteria_change
from trialwatch.diff.documents import DOCUMENTS, references_change
from trialwatch.diff.keys import LABELLERS
from trialwatch.diff.labels import (
    MAX_SUMMARY,
    NOT_GIVEN,
    age_words,
    clip,
    date_type_words,
    date_words,
    days_between,
    phases_words,
    sex_words,
    status_words,
    std_ages_words,
)
from trialwatch.diff.lists import (
    ARMS,
    COLLABORATORS,
    INTERVENTIONS,
    ItemNouns,
    conditions_change,
    item_changes,
    set_change,
)
from trialwatch.diff.model import Change
from trialwatch.diff.outcomes import outcome_changes
from trialwatch.diff.sites import site_changes
from trialwatch.vocab import Significance

STOPPED = frozenset({"TERMINATED", "SUSPENDED"})
SLIP_DAYS = 90
"""A primary completion date moving by this many days or more is major (see ``changes``)."""
RESULTS_FIELDS = frozenset(
    {"resultsFirstSubmitDate", "resultsFirstSubmitQcDate", "resultsFirstPostDateStruct"}
)


@dataclass(frozen=True)
class Context:
    """Facts about the whole pair of records that some handlers need."""

    results_posted: bool = False
    """A ``results_posted`` change already covers the results dates and section."""
    old: Mapping[str, Any] = field(default_factory=dict)
    """The older record (for a handler that reads a neighbouring field)."""
    new: Mapping[str, Any] = field(default_factory=dict)
    """The newer record."""

    def status(self, which: str, key: str) -> Any:
        """``statusModule[key]`` of the ``"old"`` or ``"new"`` record; ``None`` if absent."""
        record = self.old if which == "old" else self.new
        return _get(_get(_get(record, "protocolSection"), "statusModule"), key)


Handler = Callable[[str, Any, Any, Context], "list[Change] | None"]


def _get(value: Any, key: str) -> Any:
    return value.get(key) if type(value) is dict or isinstance(value, Mapping) else None


def _one(
    kind: str, path: str, old: Any, new: Any, summary: str, significance: Significance = "minor"
) -> list[Change]:
    return [Change(kind, path, old, new, clip(summary, MAX_SUMMARY), significance)]


def _from_to(title: str, old_text: str, new_text: str, old_missing: bool) -> str:
    """``"Title: old → new"``, or ``"Title: new"`` when there was no old value."""
    if old_missing:
        return f"{title}: {new_text}"
    return f"{title}: {old_text} → {new_text}"


# --- statusModule -----------------------------------------------------------------------


def _overall_status(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
    stopped = isinstance(new, str) and new in STOPPED
    kind = "withdrawn" if new == "WITHDRAWN" else "stopped" if stopped else "overall_status"
    summary = _from_to("Status", status_words(old), status_words(new), old is None)
    last_known = ctx.status("new", "lastKnownStatus")
    if new == "UNKNOWN" and last_known is not None:
        summary += f" (last known: {status_words(last_known)})"
    return _one(kind, path, old, new, summary, "major")


def _last_known_status(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
    """Covered by the status change it comes with; on its own a minor correction."""
    if ctx.status("old", "overallStatus") != ctx.status("new", "overallStatus"):
        return []
    summary = f"Last known status: {status_words(old)} → {status_words(new)}"
    return _one("overall_status", path, old, new, summary)


def _expanded_access(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    """Expanded access becoming available or not (major), or its status changing."""
    before, after = _get(old, "hasExpandedAccess"), _get(new, "hasExpandedAccess")
    nct_id = _get(new, "nctId")
    if bool(before) != bool(after):
        summary = "Expanded access no longer available"
        if after:
            summary = "Expanded access available" + (f" ({nct_id})" if nct_id else "")
        return _one("expanded_access", path, old, new, summary, "major")
    status = _get(new, "statusForNctId")
    if not after or _get(old, "statusForNctId") == status:
        return None
    words = _from_to(
        "Expanded access", status_words(_get(old, "statusForNctId")), status_words(status), False
    )
    significance: Significance = "major" if status == "AVAILABLE" else "minor"
    return _one("expanded_access", path, old, new, words, significance)


def _why_stopped(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
    if not new:
        return _one("why_stopped", path, old, new, "Reason for stopping removed")
    text = " ".join(str(new).split())
    summary = f'Reason for stopping: "{clip(text, MAX_SUMMARY - len("Reason for stopping: "))}"'
    return _one("why_stopped", path, old, new, summary, "major")


def _date_text(struct: Any, with_day: bool) -> str:
    date = _get(struct, "date")
    if date is None:
        return NOT_GIVEN
    words = date_words(date, with_day=with_day)
    kind = date_type_words(_get(struct, "type"))
    return f"{kind} {words}" if kind else words


def _date(kind: str, title: str, slip_days: int | None = None) -> Handler:
    """A date's change, minor; major when it moves by ``slip_days`` or more, if given."""

    def handle(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
        before, after = _get(old, "date"), _get(new, "date")
        # Within one month the day is what moved, so show it.
        with_day = (
            isinstance(before, str)
            and isinstance(after, str)
            and before != after
            and before[:7] == after[:7]
        )
        summary = _from_to(title, _date_text(old, with_day), _date_text(new, with_day), old is None)
        moved = days_between(before, after) if slip_days is not None else None
        significance: Significance = "minor"
        if moved is not None and slip_days is not None and abs(moved) >= slip_days:
            significance = "major"
        return _one(kind, path, old, new, summary, significance)

    return handle


def _bookkeeping(title: str) -> Handler:
    def handle(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
        value = _get(new, "date") if isinstance(new, Mapping) else new
        return _one("bookkeeping", path, old, new, f"{title}: {value or NOT_GIVEN}", "noise")

    return handle


def _results_detail(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    return [] if ctx.results_posted else None


STATUS_FIELDS: dict[str, Handler] = {
    "overallStatus": _overall_status,
    "lastKnownStatus": _last_known_status,
    "expandedAccessInfo": _expanded_access,
    "whyStopped": _why_stopped,
    "startDateStruct": _date("start_date", "Start"),
    "primaryCompletionDateStruct": _date(
        "primary_completion_date", "Primary completion", SLIP_DAYS
    ),
    "completionDateStruct": _date("completion_date", "Completion"),
    "studyFirstPostDateStruct": _date("first_posted", "First posted"),
    "lastUpdatePostDateStruct": _bookkeeping("Last update posted"),
    "lastUpdateSubmitDate": _bookkeeping("Last update submitted"),
    "statusVerifiedDate": _bookkeeping("Status last verified"),
    **dict.fromkeys(RESULTS_FIELDS, _results_detail),
}


# --- identificationModule ---------------------------------------------------------------


def _title(kind: str, title: str) -> Handler:
    def handle(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
        if not new:
            return _one(kind, path, old, new, f"{title} removed")
        text = " ".join(str(new).split())
        budget = MAX_SUMMARY - len(title) - len(' changed: ""')
        return _one(kind, path, old, new, f'{title} changed: "{clip(text, budget)}"')

    return handle


def _acronym(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
    if not new:
        return _one("acronym", path, old, new, f"Acronym removed (was {old})")
    return _one("acronym", path, old, new, _from_to("Acronym", str(old), str(new), not old))


IDENTIFICATION_FIELDS: dict[str, Handler] = {
    "briefTitle": _title("brief_title", "Title"),
    "officialTitle": _title("official_title", "Official title"),
    "acronym": _acronym,
}


# --- designModule and conditionsModule ----------------------------------------------------


def _enrollment_text(info: Any) -> str:
    count = _get(info, "count")
    if count is None:
        return NOT_GIVEN
    words = date_type_words(_get(info, "type"))  # EnrollmentType: ESTIMATED/ACTUAL as dates
    return f"{count} {words}" if words else str(count)


def _enrollment(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
    summary = _from_to("Enrollment", _enrollment_text(old), _enrollment_text(new), old is None)
    return _one("enrollment", path, old, new, summary)


def _phases(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    return set_change(path, old, new, kind="phase", title="Phase", words=phases_words)


def _conditions(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    return conditions_change(path, old, new)


# --- eligibilityModule --------------------------------------------------------------------


def _age(kind: str, title: str, missing: str) -> Handler:
    def handle(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
        summary = f"{title}: {age_words(old, missing)} → {age_words(new, missing)}"
        return _one(kind, path, old, new, summary)

    return handle


def _sex(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
    return _one("eligibility_sex", path, old, new, f"Sex: {sex_words(old)} → {sex_words(new)}")


def _volunteers_words(value: Any) -> str:
    if value is None:
        return NOT_GIVEN
    return "accepted" if value else "not accepted"


def _volunteers(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
    summary = f"Healthy volunteers: {_volunteers_words(old)} → {_volunteers_words(new)}"
    return _one("eligibility_healthy_volunteers", path, old, new, summary)


def _age_groups(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    return set_change(
        path, old, new, kind="eligibility_age_groups", title="Age groups", words=std_ages_words
    )


def _criteria(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    return criteria_change(path, old, new)


ELIGIBILITY_FIELDS: dict[str, Handler] = {
    "minimumAge": _age("eligibility_min_age", "Minimum age", "none"),
    "maximumAge": _age("eligibility_max_age", "Maximum age", "no limit"),
    "sex": _sex,
    "healthyVolunteers": _volunteers,
    "stdAges": _age_groups,
    "eligibilityCriteria": _criteria,
}


# --- sponsors, arms, contacts and sites ---------------------------------------------------


def _lead_sponsor(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
    before, after = _get(old, "name"), _get(new, "name")
    if before == after:
        summary = f"Sponsor details updated: {after or NOT_GIVEN}"
    else:
        summary = f"Sponsor: {before or NOT_GIVEN} → {after or NOT_GIVEN}"
    return _one("lead_sponsor", path, old, new, summary)


def _items(list_key: str, nouns: ItemNouns) -> Handler:
    def handle(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
        return item_changes(path, old, new, LABELLERS[list_key], nouns)

    return handle


def _sites(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    return site_changes(path, old, new)


def _outcomes(title: str) -> Handler:
    def handle(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
        return outcome_changes(path, old, new, title)

    return handle


def _references(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    return references_change(path, old, new)


def _documents(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    return item_changes(path, old, new, LABELLERS["largeDocs"], DOCUMENTS)


PROTOCOL_FIELDS: Mapping[str, Mapping[str, Handler]] = {
    "identificationModule": IDENTIFICATION_FIELDS,
    "statusModule": STATUS_FIELDS,
    "sponsorCollaboratorsModule": {
        "leadSponsor": _lead_sponsor,
        "collaborators": _items("collaborators", COLLABORATORS),
    },
    "conditionsModule": {"conditions": _conditions},
    "designModule": {"phases": _phases, "enrollmentInfo": _enrollment},
    "armsInterventionsModule": {
        "armGroups": _items("armGroups", ARMS),
        "interventions": _items("interventions", INTERVENTIONS),
    },
    "eligibilityModule": ELIGIBILITY_FIELDS,
    "contactsLocationsModule": {
        "locations": _sites,
        "centralContacts": _items("centralContacts", CONTACTS),
        "overallOfficials": _items("overallOfficials", OFFICIALS),
    },
    "outcomesModule": {
        "primaryOutcomes": _outcomes("Primary outcome"),
        "secondaryOutcomes": _outcomes("Secondary outcome"),
    },
    "referencesModule": {"references": _references},
}

SECTION_FIELDS: Mapping[str, Mapping[str, Mapping[str, Handler]]] = {
    "protocolSection": PROTOCOL_FIELDS,
    "documentSection": {"largeDocumentModule": {"largeDocs": _documents}},
}
"""Section name -> module name -> field name -> handler."""
