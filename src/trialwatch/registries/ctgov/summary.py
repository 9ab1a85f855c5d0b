"""A ClinicalTrials.gov API v2 record as the neutral trial (:mod:`trialwatch.trial`). Pure.

:func:`summarise` reads the parts of a record TrialWatch shows, lists and exports.
It never fails on a record: a module that is missing or of another type than the
spec's (``ctg-oas-v2.yaml``) is left out, a value of another type is None, so a
list ``overallStatus`` never reaches a text column and a string of conditions is
not split into letters.

The study's page on ClinicalTrials.gov is built here and only here
(:func:`study_url`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trialwatch.trial import (
    Actuality,
    Contact,
    Eligibility,
    Enrollment,
    OtherId,
    Site,
    TrialDate,
    TrialDates,
    TrialRef,
    TrialSummary,
)

REGISTRY = "ctgov"
SITE_URL = "https://clinicaltrials.gov"

# The API's DateType and EnrollmentType as neutral codes.
_ACTUALITY: Mapping[str, Actuality] = {"ACTUAL": "actual", "ESTIMATED": "expected"}


def study_url(nct_id: str) -> str:
    """The study's page: ``https://clinicaltrials.gov/study/NCT05225675``."""
    return f"{SITE_URL}/study/{nct_id}"


def summarise(record: Mapping[str, Any]) -> TrialSummary:
    """The neutral summary of an API v2 study record (see the module docstring)."""
    protocol = _map(_map(record).get("protocolSection"))
    ident = _map(protocol.get("identificationModule"))
    status = _map(protocol.get("statusModule"))
    design = _map(protocol.get("designModule"))
    sponsors = _map(protocol.get("sponsorCollaboratorsModule"))
    places = _map(protocol.get("contactsLocationsModule"))
    nct_id = _text(ident.get("nctId")) or ""
    overall = _text(status.get("overallStatus"))
    return TrialSummary(
        ref=TrialRef(REGISTRY, nct_id),
        url=study_url(nct_id),
        brief_title=_text(ident.get("briefTitle")),
        official_title=_text(ident.get("officialTitle")),
        acronym=_text(ident.get("acronym")),
        status=overall,  # the neutral codes are the API's Status enum
        registry_status=overall,
        last_known_status=_text(status.get("lastKnownStatus")),
        why_stopped=_text(status.get("whyStopped")),
        study_type=_text(design.get("studyType")),
        phases=_texts(design.get("phases")),
        conditions=_texts(_map(protocol.get("conditionsModule")).get("conditions")),
        interventions=_names(_map(protocol.get("armsInterventionsModule")).get("interventions")),
        sponsor=_text(_map(sponsors.get("leadSponsor")).get("name")),
        collaborators=_names(sponsors.get("collaborators")),
        sites=tuple(site_of(item) for item in _maps(places.get("locations"))),
        central_contacts=tuple(contact_of(item) for item in _maps(places.get("centralContacts"))),
        dates=_dates(status),
        eligibility=_eligibility(_map(protocol.get("eligibilityModule"))),
        enrollment=_enrollment(design.get("enrollmentInfo")),
        other_ids=_other_ids(ident.get("secondaryIdInfos")),
        has_results=_map(record).get("hasResults") is True,
    )


def contact_of(raw: Mapping[str, Any]) -> Contact:
    """A ``Contact`` of the API (a central contact or one of a site's)."""
    return Contact(
        name=_text(raw.get("name")),
        role=_text(raw.get("role")),
        phone=_text(raw.get("phone")),
        phone_ext=_text(raw.get("phoneExt")),
        email=_text(raw.get("email")),
    )


def site_of(raw: Mapping[str, Any]) -> Site:
    """A ``Location`` of the API (``contactsLocationsModule.locations[]``)."""
    point = _map(raw.get("geoPoint"))
    return Site(
        facility=_text(raw.get("facility")),
        city=_text(raw.get("city")),
        state=_text(raw.get("state")),
        zip=_text(raw.get("zip")),
        country=_text(raw.get("country")),
        status=_text(raw.get("status")),
        lat=_number(point.get("lat")),
        lon=_number(point.get("lon")),
        contacts=tuple(contact_of(item) for item in _maps(raw.get("contacts"))),
    )


def change_sites(kind: str, old: Any, new: Any) -> tuple[Site, ...]:
    """The sites a stored change of this registry is about: its new side, else its old.

    A single site change holds one ``Location``, a grouped one (``sites_added`` etc.)
    a list of them; a removed site has only an old side. Other kinds: ``()``.
    """
    if not kind.startswith("site"):
        return ()
    value = new if new else old
    items = _maps(value) if isinstance(value, list) else _maps([value])
    return tuple(site_of(item) for item in items)


def _dates(status: Mapping[str, Any]) -> TrialDates:
    return TrialDates(
        start=_date(status.get("startDateStruct")),
        primary_completion=_date(status.get("primaryCompletionDateStruct")),
        completion=_date(status.get("completionDateStruct")),
        first_posted=_date(status.get("studyFirstPostDateStruct")),
        results_first_posted=_date(status.get("resultsFirstPostDateStruct")),
        last_update_posted=_date(status.get("lastUpdatePostDateStruct")),
    )


def _date(struct: Any) -> TrialDate | None:
    value = _text(_map(struct).get("date"))
    if value is None:
        return None
    kind = _text(_map(struct).get("type"))
    return TrialDate(value, _ACTUALITY.get(kind or ""), kind)


def _eligibility(module: Mapping[str, Any]) -> Eligibility:
    healthy = module.get("healthyVolunteers")
    return Eligibility(
        minimum_age=_text(module.get("minimumAge")),
        maximum_age=_text(module.get("maximumAge")),
        sex=_text(module.get("sex")),
        healthy_volunteers=healthy if isinstance(healthy, bool) else None,
        criteria=_text(module.get("eligibilityCriteria")),
    )


def _enrollment(raw: Any) -> Enrollment | None:
    info = _map(raw)
    if not info:
        return None
    count = info.get("count")
    kind = _text(info.get("type"))
    return Enrollment(
        count=count if isinstance(count, int) and not isinstance(count, bool) else None,
        actuality=_ACTUALITY.get(kind or ""),
        registry_type=kind,
    )


def _other_ids(raw: Any) -> tuple[OtherId, ...]:
    return tuple(
        OtherId(id=ident, type=_text(item.get("type")), domain=_text(item.get("domain")))
        for item in _maps(raw)
        if (ident := _text(item.get("id")))
    )


def _names(items: Any) -> tuple[str, ...]:
    return tuple(name for item in _maps(items) if (name := _text(item.get("name"))))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _maps(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
