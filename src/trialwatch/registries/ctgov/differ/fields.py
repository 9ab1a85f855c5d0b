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

from trialwatch.diff.dates import days_between
from trialwatch.diff.lists import ItemNouns, conditions_change, item_changes, set_change
from trialwatch.diff.model import Change, said
from trialwatch.registries.ctgov.differ.contacts import CONTACTS, OFFICIALS
from trialwatch.registries.ctgov.differ.criteria import criteria_change
from trialwatch.registries.ctgov.differ.documents import DOCUMENTS, references_change
from trialwatch.registries.ctgov.differ.items import ARMS, COLLABORATORS, INTERVENTIONS
from trialwatch.registries.ctgov.differ.keys import LABELLERS
from trialwatch.registries.ctgov.differ.outcomes import outcome_changes
from trialwatch.registries.ctgov.differ.sites import site_changes
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
    kind: str,
    path: str,
    old: Any,
    new: Any,
    message: str,
    params: Mapping[str, Any],
    significance: Significance = "minor",
) -> list[Change]:
    return [said(kind, path, old, new, message, params, significance)]


def _from_to(old: Any, new: Any) -> dict[str, Any]:
    return {"from": old, "to": new}


# --- statusModule -----------------------------------------------------------------------


def _overall_status(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
    stopped = isinstance(new, str) and new in STOPPED
    kind = "withdrawn" if new == "WITHDRAWN" else "stopped" if stopped else "overall_status"
    params = _from_to(old, new)
    last_known = ctx.status("new", "lastKnownStatus")
    if new == "UNKNOWN" and last_known is not None:
        params["last_known"] = last_known
    return _one(kind, path, old, new, "status_changed", params, "major")


def _last_known_status(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
    """Covered by the status change it comes with; on its own a minor correction."""
    if ctx.status("old", "overallStatus") != ctx.status("new", "overallStatus"):
        return []
    return _one("overall_status", path, old, new, "last_known_status_changed", _from_to(old, new))


def _expanded_access(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    """Expanded access becoming available or not (major), or its status changing."""
    before, after = _get(old, "hasExpandedAccess"), _get(new, "hasExpandedAccess")
    if bool(before) != bool(after):
        if after:
            params = {"id": _get(new, "nctId")}
            return _one(
                "expanded_access", path, old, new, "expanded_access_available", params, "major"
            )
        return _one("expanded_access", path, old, new, "expanded_access_ended", {}, "major")
    status = _get(new, "statusForNctId")
    if not after or _get(old, "statusForNctId") == status:
        return None
    params = _from_to(_get(old, "statusForNctId"), status)
    significance: Significance = "major" if status == "AVAILABLE" else "minor"
    return _one("expanded_access", path, old, new, "expanded_access_status", params, significance)


def _why_stopped(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
    if not new:
        return _one("why_stopped", path, old, new, "why_stopped_removed", {})
    params = {"text": " ".join(str(new).split())}
    return _one("why_stopped", path, old, new, "why_stopped", params, "major")


def _dated(struct: Any) -> dict[str, Any] | None:
    """A date struct as parameters: ``{"date": "2025-03", "type": "ESTIMATED"}``."""
    if struct is None:
        return None
    return {"date": _get(struct, "date"), "type": _get(struct, "type")}


def _date(kind: str, which: str, slip_days: int | None = None) -> Handler:
    """A date's change, minor; major when it moves by ``slip_days`` or more, if given."""

    def handle(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
        params = {"which": which, "from": _dated(old), "to": _dated(new)}
        moved = None
        if slip_days is not None:
            moved = days_between(_get(old, "date"), _get(new, "date"))
        significance: Significance = "minor"
        if moved is not None and slip_days is not None and abs(moved) >= slip_days:
            significance = "major"
        return _one(kind, path, old, new, "date_changed", params, significance)

    return handle


def _bookkeeping(which: str) -> Handler:
    def handle(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
        value = _get(new, "date") if isinstance(new, Mapping) else new
        params = {"which": which, "value": value}
        return _one("bookkeeping", path, old, new, "bookkeeping", params, "noise")

    return handle


def _results_detail(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    return [] if ctx.results_posted else None


STATUS_FIELDS: dict[str, Handler] = {
    "overallStatus": _overall_status,
    "lastKnownStatus": _last_known_status,
    "expandedAccessInfo": _expanded_access,
    "whyStopped": _why_stopped,
    "startDateStruct": _date("start_date", "start"),
    "primaryCompletionDateStruct": _date(
        "primary_completion_date", "primary_completion", SLIP_DAYS
    ),
    "completionDateStruct": _date("completion_date", "completion"),
    "studyFirstPostDateStruct": _date("first_posted", "first_posted"),
    "lastUpdatePostDateStruct": _bookkeeping("last_update_posted"),
    "lastUpdateSubmitDate": _bookkeeping("last_update_submitted"),
    "statusVerifiedDate": _bookkeeping("status_verified"),
    **dict.fromkeys(RESULTS_FIELDS, _results_detail),
}


# --- identificationModule ---------------------------------------------------------------


def _title(kind: str, which: str) -> Handler:
    def handle(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
        if not new:
            return _one(kind, path, old, new, "title_removed", {"which": which})
        params = {"which": which, "text": " ".join(str(new).split())}
        return _one(kind, path, old, new, "title_changed", params)

    return handle


def _acronym(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
    if not new:
        return _one("acronym", path, old, new, "acronym_removed", {"was": old})
    return _one("acronym", path, old, new, "acronym_changed", _from_to(old, new))


IDENTIFICATION_FIELDS: dict[str, Handler] = {
    "briefTitle": _title("brief_title", "brief"),
    "officialTitle": _title("official_title", "official"),
    "acronym": _acronym,
}


# --- designModule and conditionsModule ----------------------------------------------------


def _enrollment_info(info: Any) -> dict[str, Any] | None:
    if info is None:
        return None
    return {"count": _get(info, "count"), "type": _get(info, "type")}


def _enrollment(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
    params = _from_to(_enrollment_info(old), _enrollment_info(new))
    return _one("enrollment", path, old, new, "enrollment_changed", params)


def _phases(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    return set_change(path, old, new, kind="phase", message="phase_changed")


def _conditions(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    return conditions_change(path, old, new)


# --- eligibilityModule --------------------------------------------------------------------


def _plain(kind: str, message: str) -> Handler:
    """A field whose old and new values are the parameters, as they are."""

    def handle(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
        return _one(kind, path, old, new, message, _from_to(old, new))

    return handle


def _age_groups(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    return set_change(path, old, new, kind="eligibility_age_groups", message="age_groups_changed")


def _criteria(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    return criteria_change(path, old, new)


ELIGIBILITY_FIELDS: dict[str, Handler] = {
    "minimumAge": _plain("eligibility_min_age", "minimum_age_changed"),
    "maximumAge": _plain("eligibility_max_age", "maximum_age_changed"),
    "sex": _plain("eligibility_sex", "sex_changed"),
    "healthyVolunteers": _plain("eligibility_healthy_volunteers", "healthy_volunteers_changed"),
    "stdAges": _age_groups,
    "eligibilityCriteria": _criteria,
}


# --- sponsors, arms, contacts and sites ---------------------------------------------------


def _lead_sponsor(path: str, old: Any, new: Any, ctx: Context) -> list[Change]:
    before, after = _get(old, "name"), _get(new, "name")
    if before == after:
        return _one("lead_sponsor", path, old, new, "sponsor_updated", {"name": after})
    return _one("lead_sponsor", path, old, new, "sponsor_changed", _from_to(before, after))


def _items(list_key: str, nouns: ItemNouns) -> Handler:
    def handle(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
        return item_changes(path, old, new, LABELLERS[list_key], nouns)

    return handle


def _sites(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
    return site_changes(path, old, new)


def _outcomes(which: str) -> Handler:
    def handle(path: str, old: Any, new: Any, ctx: Context) -> list[Change] | None:
        return outcome_changes(path, old, new, which)

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
        "primaryOutcomes": _outcomes("primary"),
        "secondaryOutcomes": _outcomes("secondary"),
    },
    "referencesModule": {"references": _references},
}

SECTION_FIELDS: Mapping[str, Mapping[str, Mapping[str, Handler]]] = {
    "protocolSection": PROTOCOL_FIELDS,
    "documentSection": {"largeDocumentModule": {"largeDocs": _documents}},
}
"""Section name -> module name -> field name -> handler."""
