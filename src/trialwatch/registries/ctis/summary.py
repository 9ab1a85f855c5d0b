"""An EU CTIS record as the neutral trial (:mod:`trialwatch.trial`). Pure.

:func:`summarise` reads a retrieve (``authorizedApplication`` ...) and, where it is
silent, the search record's fields (a search record alone, or the overlay ctrdata
lays over a retrieve; see :mod:`.parse`). It never fails on a record: a part that
is missing or of another shape is left out.

**Statuses.** CTIS's twelve public codes (:data:`trialwatch.words.ctis.STATUS_LABELS`)
become the neutral codes as :data:`NEUTRAL_STATUS` says; the CTIS label stays as the
registry's status. "Ended" is ``TERMINATED`` where every member state notified an
early termination (``EARLY_TERMINATION`` events), else ``COMPLETED``. "Cancelled"
has no neutral code: whether anybody took part is not known.

**Phases.** ``trialCategory.trialPhase`` is a code of the portal's phase list (ctrdata
lists it and queries the live portal with it; the recorded records show 4 beside
"Therapeutic exploratory (Phase II)" and 5 beside "This is a Phase 3 study"); the
search sends the text. The text is kept, and the phases it names ("Phase I and Phase II
(Integrated)") are the neutral codes; a code outside the list is kept as it is.

**Sites** are ``authorizedPartsII[].trialSites`` with the status of their country;
countries are spelt as :mod:`trialwatch.places` spells them (as ClinicalTrials.gov
does). **Enrollment** is the planned number: the member states'
``recruitmentSubjectCount`` plus ``rowSubjectCount`` (the rest of the world, whose
countries ``rowCountriesInfo`` lists), else the search's ``totalNumberEnrolled``.

The trial's page on the CTIS portal is built here and only here (:func:`study_url`).

Over 400 lines because a retrieve is the widest record TrialWatch reads (titles,
statuses by country, sites, dates, criteria, identifiers, translations) and each of
its small readers sits beside the summary it feeds, over the same shape helpers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from trialwatch.places import country_name
from trialwatch.registries.ctis.parse import (
    country_key,
    early_terminations,
    iso_day,
    member_states,
    other_countries,
    public_status,
)
from trialwatch.trial import (
    Contact,
    CountryStatus,
    Eligibility,
    Enrollment,
    OtherId,
    Site,
    Translation,
    TrialDate,
    TrialDates,
    TrialRef,
    TrialSummary,
)
from trialwatch.words.ctis import CRITERIA_HEADINGS, STATUS_LABELS

REGISTRY = "ctis"
SITE_URL = "https://euclinicaltrials.eu"

NEUTRAL_STATUS: Mapping[int, str] = {
    1: "NOT_YET_RECRUITING",  # under evaluation: not started, may never be
    2: "NOT_YET_RECRUITING",
    3: "RECRUITING",
    4: "RECRUITING",
    5: "ACTIVE_NOT_RECRUITING",
    6: "SUSPENDED",  # halted by the sponsor, may restart
    7: "SUSPENDED",  # suspended by a member state, may restart
    8: "COMPLETED",  # TERMINATED when ended early everywhere (see _neutral)
    9: "WITHDRAWN",  # expired: nobody included within two years of authorisation
    10: "TERMINATED",  # authorisation revoked
    11: "WITHDRAWN",  # never authorised, so nobody took part
}
"""CTIS public status code -> neutral status code (``vocab.STATUS_CODES``)."""

PHASES: Mapping[int, str] = {
    1: "Human Pharmacology (Phase I) - First administration to humans",
    2: "Human Pharmacology (Phase I) - Bioequivalence Study",
    3: "Human Pharmacology (Phase I) - Other",
    4: "Therapeutic exploratory (Phase II)",
    5: "Therapeutic confirmatory (Phase III)",
    6: "Therapeutic use (Phase IV)",
    7: "Phase I and Phase II (Integrated) - First administration to humans",
    8: "Phase I and Phase II (Integrated) - Bioequivalence Study",
    9: "Phase I and Phase II (Integrated) - Other",
    10: "Phase II and Phase III (Integrated)",
    11: "Phase III and phase IV (Integrated)",
}
"""The portal's phase codes and their text; the neutral phases are the ones it names."""

_PHASE_NAMED = re.compile(r"\bphase\s+(IV|III|II|I|[1-4])\b", re.IGNORECASE)
_PHASE_NUMBER = {"I": "1", "II": "2", "III": "3", "IV": "4"}
_NCT = re.compile(r"NCT\d{8}")
_EUDRACT = re.compile(r"\d{4}-\d{6}-\d{2}")


def study_url(ct_number: str) -> str:
    """The trial's page on the CTIS portal."""
    return f"{SITE_URL}/search-for-clinical-trials/?lang=en&EUCT={ct_number}"


def summarise(record: Mapping[str, Any]) -> TrialSummary:
    """The neutral summary of a CTIS retrieve or search record (see the module docstring)."""
    top = _map(record)
    application = _map(top.get("authorizedApplication"))
    part_one = _map(application.get("authorizedPartI"))
    details = _map(part_one.get("trialDetails"))
    idents = _map(details.get("clinicalTrialIdentifiers"))
    info = _map(details.get("trialInformation"))
    ct_number = (_text(top.get("ctNumber")) or "").strip()
    countries = _country_statuses(top)
    code = public_status(top)
    early = early_terminations(top)
    phase_text, phases = _phase(info, top)
    return TrialSummary(
        ref=TrialRef(REGISTRY, ct_number),
        url=study_url(ct_number),
        brief_title=_text(idents.get("publicTitle")),
        official_title=_text(idents.get("fullTitle")) or _text(top.get("ctTitle")),
        acronym=_text(idents.get("shortTitle")) or _text(top.get("shortTitle")),
        status=_neutral(code, all_ended_early=bool(early) and all(early.values())),
        registry_status=_status_text(code),
        phases=phases,
        registry_phase=phase_text,
        conditions=_conditions(part_one, info, top),
        sponsor=_sponsor(part_one, top),
        collaborators=_co_sponsors(part_one),
        sites=_sites(application, countries),
        central_contacts=_public_contacts(part_one),
        dates=_dates(top, info),
        eligibility=_eligibility(info),
        enrollment=_enrollment(application, part_one, top),
        other_ids=_other_ids(application, idents),
        has_results=_has_results(top),
        country_statuses=countries,
        translations=_translations(idents, info),
    )


# --- statuses ---------------------------------------------------------------------------


def _neutral(code: int | str | None, *, all_ended_early: bool) -> str | None:
    if not isinstance(code, int):
        return None
    if code == 8 and all_ended_early:
        return "TERMINATED"
    return NEUTRAL_STATUS.get(code)


def _status_text(code: int | str | None) -> str | None:
    if isinstance(code, int):
        return STATUS_LABELS.get(code, str(code))
    return code


def _country_statuses(top: Mapping[str, Any]) -> tuple[CountryStatus, ...]:
    """Member states with their public status, then the other countries without one."""
    states = member_states(top)
    early = early_terminations(top)
    listed = [
        CountryStatus(
            country=_country_name(key),
            status=_neutral(code, all_ended_early=early.get(key, False)),
            registry_status=_status_text(code),
        )
        for key, code in states.items()
    ]
    others = [
        CountryStatus(_country_name(key)) for key in other_countries(top) if key not in states
    ]
    return (*listed, *others)


def _country_name(key: str) -> str:
    """A country as ``places`` spells it (as ClinicalTrials.gov does); else as given."""
    try:
        return country_name(key)
    except KeyError:
        return key


# --- what the trial is ------------------------------------------------------------------


def _phase(info: Mapping[str, Any], top: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """The registry's phase text (of the code, else the search's) and the phases it names."""
    code = _text(_map(info.get("trialCategory")).get("trialPhase"))
    known = code is not None and code.strip().isdigit() and int(code) in PHASES
    text = PHASES[int(code)] if known and code else _text(top.get("trialPhase"))
    if text is None:
        return code, ()
    text = " ".join(text.split())
    numbers = (_PHASE_NUMBER.get(m.upper(), m) for m in _PHASE_NAMED.findall(text))
    found = dict.fromkeys(f"PHASE{n}" for n in numbers)
    return text, tuple(sorted(found))


def _conditions(
    part_one: Mapping[str, Any], info: Mapping[str, Any], top: Mapping[str, Any]
) -> tuple[str, ...]:
    listed = _maps(part_one.get("medicalConditions")) or _maps(
        _map(info.get("medicalCondition")).get("partIMedicalConditions")
    )
    names = tuple(n for item in listed if (n := _text(item.get("medicalCondition"))))
    if names:
        return names
    text = _text(top.get("conditions"))  # the search's, comma-joined: not split
    return (text,) if text and text.strip() else ()


def _sponsors(part_one: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return _maps(part_one.get("sponsors"))


def _sponsor(part_one: Mapping[str, Any], top: Mapping[str, Any]) -> str | None:
    primary = [s for s in _sponsors(part_one) if s.get("primary") is True] or _sponsors(part_one)
    for sponsor in primary:
        name = _text(_map(sponsor.get("organisation")).get("name"))
        if name:
            return name
    return _text(top.get("sponsor"))


def _co_sponsors(part_one: Mapping[str, Any]) -> tuple[str, ...]:
    names = (
        _text(_map(s.get("organisation")).get("name"))
        for s in _sponsors(part_one)
        if s.get("primary") is not True
    )
    return tuple(dict.fromkeys(n for n in names if n))


def _public_contacts(part_one: Mapping[str, Any]) -> tuple[Contact, ...]:
    primary = [s for s in _sponsors(part_one) if s.get("primary") is True]
    return tuple(
        Contact(
            name=_text(item.get("functionalName")),
            role=_text(item.get("type")),
            phone=_text(item.get("telephone")),
            email=_text(item.get("functionalEmailAddress")),
        )
        for sponsor in primary
        for item in _maps(sponsor.get("publicContacts"))
    )


# --- where ------------------------------------------------------------------------------


def _sites(
    application: Mapping[str, Any], countries: tuple[CountryStatus, ...]
) -> tuple[Site, ...]:
    status_of = {c.country: c.status for c in countries}
    return tuple(
        _site(site, _text(_map(part.get("mscInfo")).get("countryName")), status_of)
        for part in _maps(application.get("authorizedPartsII"))
        for site in _maps(part.get("trialSites"))
    )


def _site(raw: Mapping[str, Any], state: str | None, status_of: Mapping[str, str | None]) -> Site:
    where = _map(raw.get("organisationAddressInfo"))
    address = _map(where.get("address"))
    named = _text(address.get("countryName")) or state
    country = _country_name(country_key(named)) if named and named.strip() else None
    person = _map(raw.get("personInfo"))
    name = " ".join(p for p in (_text(person.get(k)) for k in ("firstName", "lastName")) if p)
    contact = Contact(
        name=name or None,
        phone=_text(person.get("telephone")),
        email=_text(person.get("email")),
    )
    return Site(
        facility=_text(_map(where.get("organisation")).get("name")),
        city=_text(address.get("city")),
        zip=_text(address.get("postcode")),
        country=country,
        status=status_of.get(country) if country else None,
        contacts=(contact,) if contact != Contact() else (),
    )


# --- when, who, how many ----------------------------------------------------------------


def _dates(top: Mapping[str, Any], info: Mapping[str, Any]) -> TrialDates:
    duration = _map(info.get("trialDuration"))
    started = iso_day(top.get("startDateEU")) or _first_event(top, "START_OF_TRIAL")
    planned = iso_day(duration.get("estimatedRecruitmentStartDate"))
    start = (
        TrialDate(started, "actual")
        if started
        else (TrialDate(planned, "expected") if planned else None)
    )
    end = iso_day(duration.get("estimatedGlobalEndDate")) or iso_day(
        duration.get("estimatedEndDate")
    )
    updated = iso_day(top.get("lastPublicationUpdate")) or iso_day(top.get("publishDate"))
    return TrialDates(
        start=start,
        completion=TrialDate(end, "expected") if end else None,
        results_first_posted=_results_posted(top),
        last_update_posted=TrialDate(updated, "actual") if updated else None,
    )


def _first_event(top: Mapping[str, Any], kind: str) -> str | None:
    days = [
        day
        for state in _maps(_map(top.get("events")).get("trialEvents"))
        for event in _maps(state.get("events"))
        if event.get("notificationType") == kind and (day := iso_day(event.get("date")))
    ]
    return min(days) if days else None


def _eligibility(info: Mapping[str, Any]) -> Eligibility:
    criteria = _map(info.get("eligibilityCriteria"))
    people = _map(info.get("populationOfTrialSubjects"))
    female, male = people.get("isFemaleSubjects") is True, people.get("isMaleSubjects") is True
    sex = {(True, True): "ALL", (True, False): "FEMALE", (False, True): "MALE"}.get((female, male))
    return Eligibility(sex=sex, criteria=_criteria_text(criteria))


def _criteria(criteria: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    """``principalInclusionCriteria`` or ``...Exclusion...``: the items, by their number."""
    key = f"principal{kind.capitalize()}Criteria"
    items = _maps(criteria.get(key))
    return sorted(items, key=lambda i: _count(i.get("number")) or len(items))


def _criteria_text(criteria: Mapping[str, Any]) -> str | None:
    """The criteria as one text, as ClinicalTrials.gov registrants write theirs."""
    blocks = []
    for kind, heading in CRITERIA_HEADINGS.items():
        key = f"principal{kind.capitalize()}Criteria"
        lines = [t.strip() for i in _criteria(criteria, kind) if (t := _text(i.get(key)))]
        if lines:
            listed = "\n".join(f"{n}. {line}" for n, line in enumerate(lines, 1))
            blocks.append(f"{heading}\n\n{listed}")
    return "\n\n".join(blocks) or None


def _enrollment(
    application: Mapping[str, Any], part_one: Mapping[str, Any], top: Mapping[str, Any]
) -> Enrollment | None:
    parts = _maps(application.get("authorizedPartsII"))
    counts = [n for part in parts if (n := _count(part.get("recruitmentSubjectCount"))) is not None]
    rest = _count(part_one.get("rowSubjectCount"))
    if counts or rest is not None:
        return Enrollment(count=sum(counts) + (rest or 0), actuality="expected")
    total = _text(top.get("totalNumberEnrolled"))
    if total is not None and total.strip().isdigit():
        return Enrollment(count=int(total), actuality="expected")
    return None


def _other_ids(application: Mapping[str, Any], idents: Mapping[str, Any]) -> tuple[OtherId, ...]:
    found: list[OtherId] = []
    eudract = _text(_map(application.get("eudraCt")).get("eudraCtCode"))
    if eudract and eudract.strip():
        match = _EUDRACT.search(eudract)
        found.append(OtherId(match.group() if match else eudract.strip(), "EUDRACT_NUMBER"))
    numbers = _map(idents.get("secondaryIdentifyingNumbers"))
    nct = _text(_map(numbers.get("nctNumber")).get("number"))
    if nct and nct.strip():
        match = _NCT.search(nct.upper())
        found.append(
            OtherId(match.group() if match else nct.strip(), "REGISTRY", "ClinicalTrials.gov")
        )
    for item in _maps(numbers.get("additionalRegistries")):
        number = _text(item.get("number"))
        if number and number.strip():
            found.append(OtherId(number.strip(), "REGISTRY", _text(item.get("otherRegistryName"))))
    return tuple(found)


def _results(top: Mapping[str, Any]) -> list[Any]:
    results = _map(top.get("results"))
    return [results.get(k) for k in ("summaryResults", "laypersonResults") if results.get(k)]


def _has_results(top: Mapping[str, Any]) -> bool:
    return bool(_results(top)) or top.get("resultsFirstReceived") == "Yes"


def _results_posted(top: Mapping[str, Any]) -> TrialDate | None:
    """The earliest ``submissionDate`` of the summary or lay results, in whatever shape."""
    items = [i for value in _results(top) for i in (value if isinstance(value, list) else [value])]
    days = [d for item in _maps(items) if (d := iso_day(item.get("submissionDate")))]
    return TrialDate(min(days), "actual") if days else None


# --- other languages --------------------------------------------------------------------

LANGUAGES: Mapping[str, str] = {
    "bulgarian": "bg", "croatian": "hr", "czech": "cs", "danish": "da", "dutch": "nl",
    "english": "en", "estonian": "et", "finnish": "fi", "french": "fr", "german": "de",
    "greek": "el", "hungarian": "hu", "icelandic": "is", "irish": "ga", "italian": "it",
    "latvian": "lv", "lithuanian": "lt", "maltese": "mt", "norwegian": "no", "polish": "pl",
    "portuguese": "pt", "romanian": "ro", "slovak": "sk", "slovenian": "sl", "spanish": "es",
    "swedish": "sv",
}  # fmt: skip
"""The registry's names of the EU/EEA languages (``languageDescription``) -> ISO 639-1."""


def _translations(idents: Mapping[str, Any], info: Mapping[str, Any]) -> tuple[Translation, ...]:
    """The sponsor's national-language texts: titles, conditions, principal criteria."""
    found = [
        *_translated("brief_title", 0, idents.get("publicTitleTranslations")),
        *_translated("official_title", 0, idents.get("fullTitleTranslations")),
    ]
    conditions = _maps(_map(info.get("medicalCondition")).get("partIMedicalConditions"))
    for index, item in enumerate(conditions):
        found += _translated("conditions", index, item.get("medicalConditionTranslations"))
    criteria = _map(info.get("eligibilityCriteria"))
    for kind in CRITERIA_HEADINGS:
        key = f"principal{kind.capitalize()}CriteriaTranslations"
        for index, item in enumerate(_criteria(criteria, kind)):
            found += _translated(f"{kind}_criteria", index, item.get(key))
    return tuple(found)


def _translated(field: str, index: int, items: Any) -> list[Translation]:
    return [
        Translation(
            field=field,
            text=text,
            language=LANGUAGES.get(language.strip().casefold()) if language else None,
            registry_language=language,
            index=index,
        )
        for item in _maps(items)
        if (text := _text(item.get("attributeTranslation"))) and text.strip()
        for language in [_text(item.get("languageDescription"))]
    ]


# --- shapes -----------------------------------------------------------------------------


def _count(value: Any) -> int | None:
    """A count the registry gives (a non-negative integer), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _maps(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
