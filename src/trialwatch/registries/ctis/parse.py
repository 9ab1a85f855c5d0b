"""Pure helpers that read EU CTIS records (no I/O).

CTIS sends two kinds of record. A **search record** (a ``data[]`` item of
``POST /search``) is a flat overview: ``ctStatus`` is the public status code,
dates are day-first (``"09/07/2026"``), ``trialCountries`` pairs each country with
its own status. A **retrieve** (``GET /retrieve/{ctNumber}``) is the whole public
dossier: ``authorizedApplication``, ``events``, ``results``, ``documents``, with ISO
dates and ``ctPublicStatusCode``; its ``ctStatus`` is the *application* status
(``"Authorised"``), not the public one.

**Retrieve or overlay.** ctrdata stores a retrieve and then lays the trial's search
record over its top level (``ctrLoadQueryIntoDbCtis.R``), so its documents hold
both. A record is a retrieve when it has ``authorizedApplication`` (a search record
never has). In it, the search's fields are told from the retrieve's own this way:

- a key only the search sends (:data:`SEARCH_ONLY_KEYS`: ``lastUpdated``,
  ``trialCountries``, ``decisionDateOverall`` ...) is overlay;
- of the keys both send, the value is overlay when it has the search's form: an
  integer ``ctStatus`` or ``trialRegion`` (the retrieve's are text), a day-first
  ``startDateEU``, a ``decisionDate`` that is not an ISO date (``"BE: 15/04/2024"``).

:func:`normalise` drops the overlay, ctrdata's own fields (``_id``, ``ctrname``,
``record_last_import``) and the retrieve's noise, so a stored record is the
registry's retrieve and its hash moves only when the trial does. :func:`update_marks`
reads the search's fields, whichever record carries them.

**Noise** (what changes when the trial does not): ``publishDate`` (every
republication), the numeric ``id`` of nested objects and the row ids
:data:`RENUMBERED_IDS` (renumbered when an application is authorised; the recorded
2024/2026 pair of 2023-505613-24-00 shares 52 of its 242 ``id`` values and none of
its ``trialCategoryId``/``trialScopeId`` values), the ``uuid`` of a translation
(none shared in that pair; a document's uuid names its file and stays), and the
order of the lists in :data:`UNORDERED_LISTS` (``rowCountriesInfo`` and
``authorizedPartsII`` came back in another order in that pair).

**API drift** (2024 → 2026 in the recorded pair): ``trialCountries`` was text
(``"BE: Ongoing, recruiting, GR: ..."``) and is a list (``["Poland:4"]``); the
search's ``ctStatus`` was text and is a code. :func:`country_statuses` and
:func:`public_status` read both forms into one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import date
from typing import Any, NamedTuple

import orjson

from trialwatch.errors import RegistryBadResponse
from trialwatch.places import country_code, fold
from trialwatch.words.ctis import status_code

_CT_NUMBER = re.compile(r"^\d{4}-\d{6}-\d{2}-\d{2}$")

CTRDATA_KEYS = frozenset({"_id", "ctrname", "record_last_import"})
"""What ctrdata adds to each stored document; not the registry's."""

SEARCH_ONLY_KEYS = frozenset(
    {
        "id",
        "ctTitle",
        "shortTitle",
        "conditions",
        "trialCountries",
        "recruitmentStatus",
        "decisionDateOverall",
        "therapeuticAreas",
        "sponsor",
        "sponsorType",
        "trialPhase",
        "product",
        "endPoint",
        "primaryEndPoint",
        "ageGroup",
        "ageRangeSecondary",
        "gender",
        "totalNumberEnrolled",
        "resultsFirstReceived",
        "lastUpdated",
        "lastPublicationUpdate",
        "endDateEU",
        "endDate",
        "eudraCtInfo",
    }
)
"""Top-level keys of a search record that a retrieve does not send (Gregory's survey of
100 search records, the recorded search record, ctrdata's overlay)."""

NOISE_KEYS = frozenset({"publishDate"})
RENUMBERED_IDS = frozenset({"id", "trialCategoryId", "trialScopeId"})
UNORDERED_LISTS = frozenset(
    {"applicationInfo", "documents", "trialSites", "authorizedPartsII", "rowCountriesInfo"}
)


def get_path(record: Any, path: str) -> Any:
    """``get_path(r, "authorizedApplication.eudraCt.eudraCtCode")``; None when absent."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def ct_number_of(record: Any) -> str:
    """The record's EU CT number (``ctNumber``); RegistryBadResponse when it has none."""
    number = record.get("ctNumber") if isinstance(record, Mapping) else None
    if not isinstance(number, str) or not number.strip():
        raise RegistryBadResponse("a CTIS record has no ctNumber")
    return number.strip()


def record_problem(record: Any) -> str | None:
    """Why a record cannot be stored (one short phrase), or None if it can.

    An empty object is what CTIS answers for an unknown number (one report says so).
    """
    if not isinstance(record, Mapping):
        return "not a JSON object"
    if not record:
        return "an empty record (no such trial?)"
    number = record.get("ctNumber")
    if not isinstance(number, str) or not number.strip():
        return "no ctNumber"
    if not _CT_NUMBER.match(number.strip()):
        return f"ctNumber {number[:40]!r} is not an EU CT number"
    application = record.get("authorizedApplication")
    if application is not None and not isinstance(application, Mapping):
        return f"{number}: authorizedApplication is not an object"
    return None


def is_retrieve(record: Any) -> bool:
    """Whether the record is a retrieve (maybe overlaid), not a search record."""
    return isinstance(record, Mapping) and "authorizedApplication" in record


def overlay_keys(record: Mapping[str, Any]) -> set[str]:
    """The top-level keys of a retrieve that hold search values (the module docstring)."""
    if not is_retrieve(record):
        return set()
    found = {key for key in record if key in SEARCH_ONLY_KEYS}
    if _is_int(record.get("ctStatus")):
        found.add("ctStatus")
    if _is_int(record.get("trialRegion")):
        found.add("trialRegion")
    if "startDateEU" in record and _day_first(record["startDateEU"]):
        found.add("startDateEU")
    decision = record.get("decisionDate")
    if isinstance(decision, str) and iso_day(decision) is None:
        found.add("decisionDate")
    return found


def normalise(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record without noise, overlay or ctrdata's fields; lists in a stable order."""
    dropped = CTRDATA_KEYS | NOISE_KEYS | overlay_keys(record)
    return _clean_map({key: value for key, value in record.items() if key not in dropped})


def _clean_map(value: Mapping[str, Any]) -> dict[str, Any]:
    translation = "attributeTranslation" in value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in RENUMBERED_IDS and _is_int(item):
            continue
        if translation and key == "uuid":
            continue
        cleaned = _clean(item)
        if key in UNORDERED_LISTS and isinstance(cleaned, list):
            cleaned = sorted(cleaned, key=_canonical)
        out[str(key)] = cleaned
    return out


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _clean_map(value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def canonical_json(record: Mapping[str, Any]) -> bytes:
    """The normalised record as canonical JSON: sorted keys, no insignificant whitespace."""
    return _canonical(normalise(record))


def content_hash(canonical: bytes) -> str:
    """The SHA-256 of a canonical record, in hex (as for ClinicalTrials.gov)."""
    return hashlib.sha256(canonical).hexdigest()


# --- dates ------------------------------------------------------------------------------

_DAY_FIRST = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
_ISO_DAY = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:$|[T ])")
_COUNTRY_DATE = re.compile(r"([A-Z]{2}): (\d{1,2}/\d{1,2}/\d{4})")


def parse_date(value: Any) -> date | None:
    """A CTIS date: day-first in search records, ISO (maybe with a time) in retrieves."""
    if not isinstance(value, str):
        return None
    match = _DAY_FIRST.match(value) or _ISO_DAY.match(value)
    if match is None:
        return None
    parts = [int(part) for part in match.groups()]
    day, month, year = parts if match.re is _DAY_FIRST else parts[::-1]
    try:
        return date(year, month, day)
    except ValueError:
        return None


def iso_day(value: Any) -> str | None:
    """A CTIS date as ISO text (``"2024-04-12"``), or None when it is no date."""
    day = parse_date(value)
    return day.isoformat() if day is not None else None


def _day_first(value: Any) -> bool:
    return isinstance(value, str) and _DAY_FIRST.match(value) is not None


def country_dates(value: Any) -> dict[str, date]:
    """``"IT: 24/06/2026, ES: 26/06/2026"`` (the search's ``decisionDate``) by country code."""
    if not isinstance(value, str):
        return {}
    found = {code: parse_date(text) for code, text in _COUNTRY_DATE.findall(value)}
    return {code: day for code, day in found.items() if day is not None}


# --- statuses and update marks ----------------------------------------------------------

_TEXT_COUNTRY = re.compile(r"(?:^|,\s*)([A-Z]{2}):\s*(.+?)(?=,\s*[A-Z]{2}:|$)")


def public_status(record: Any) -> int | str | None:
    """The trial's public status code; its text when CTIS sent a text no code matches.

    A retrieve's ``ctPublicStatusCode`` first, then a search's ``ctStatus`` (a code
    since 2024, text before; an overlaid retrieve's ``ctStatus`` too).
    """
    if not isinstance(record, Mapping):
        return None
    for key in ("ctPublicStatusCode", "ctPublicStatus"):
        code = status_code(record.get(key))
        if code is not None:
            return code
    status = record.get("ctStatus")
    if is_retrieve(record) and "ctStatus" not in overlay_keys(record):
        return None  # the application status, not the public one
    code = status_code(status)
    if code is not None:
        return code
    return " ".join(status.split()) if isinstance(status, str) and status.strip() else None


def country_statuses(value: Any) -> tuple[tuple[str, int | str], ...]:
    """The search's ``trialCountries`` as (country, status) pairs, sorted.

    Reads both forms: ``["Spain:4", "France:2"]`` (2026) and ``"BE: Ongoing,
    recruiting, GR: ..."`` (2024). The country is its ISO code (``"ES"``) when known,
    else its folded name; the status a code, else the text as sent.
    """
    pairs: list[tuple[str, str]] = []
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str) and ":" in item:
                name, _, status = item.rpartition(":")
                pairs.append((name, status))
    elif isinstance(value, str):
        pairs = [(code, status) for code, status in _TEXT_COUNTRY.findall(value.strip())]
    found = {
        country_key(name): _status_value(status)
        for name, status in pairs
        if name.strip() and status.strip()
    }
    return tuple(sorted(found.items(), key=lambda pair: (pair[0], str(pair[1]))))


# The EU's own country codes where they differ from ISO 3166 (Greece is "EL" in EU texts).
_EU_CODES: Mapping[str, str] = {"EL": "GR"}


def country_key(name: str) -> str:
    """The ISO code of a country name or code, else the folded name."""
    text = name.strip()
    return _EU_CODES.get(text) or country_code(text) or fold(text)


def _status_value(text: str) -> int | str:
    code = status_code(text)
    return code if code is not None else " ".join(text.split())


def member_states(record: Any) -> dict[str, int | str | None]:
    """Each member state (its :func:`country_key`) and its public status.

    ``memberStatesConcerned[].mscPublicStatusCode`` first (absent in 2024), then the
    search's ``trialCountries``; a state with sites but neither is None.
    """
    application = get_path(record, "authorizedApplication")
    states: dict[str, int | str | None] = {}
    for state in _maps(get_path(application, "memberStatesConcerned")):
        if isinstance(name := state.get("mscName"), str) and name.strip():
            states[country_key(name)] = status_code(state.get("mscPublicStatusCode"))
    trial_countries = record.get("trialCountries") if isinstance(record, Mapping) else None
    for key, status in country_statuses(trial_countries):
        if states.get(key) is None:
            states[key] = status
    for part in _maps(get_path(application, "authorizedPartsII")):
        if isinstance(name := get_path(part, "mscInfo.countryName"), str) and name.strip():
            states.setdefault(country_key(name), None)
    return states


def early_terminations(record: Any) -> dict[str, bool]:
    """Each member state of ``events.trialEvents`` and whether it notified an early end."""
    found: dict[str, bool] = {}
    for state in _maps(get_path(record, "events.trialEvents")):
        if isinstance(name := state.get("mscName"), str) and name.strip():
            kinds = {
                kind
                for event in _maps(state.get("events"))
                if isinstance(kind := event.get("notificationType"), str)
            }
            found[country_key(name)] = "EARLY_TERMINATION" in kinds
    return found


def other_countries(record: Any) -> tuple[str, ...]:
    """The countries outside the EEA (``rowCountriesInfo``), as :func:`country_key` gives them."""
    keys = []
    for item in _maps(get_path(record, "authorizedApplication.authorizedPartI.rowCountriesInfo")):
        code, name = item.get("isoAlpha2Code"), item.get("name")
        if isinstance(code, str) and code.strip():
            keys.append(code.strip().upper())
        elif isinstance(name, str) and name.strip():
            keys.append(country_key(name))
    return tuple(dict.fromkeys(keys))


class UpdateMarks(NamedTuple):
    """What a search record says of a trial that, when it moves, calls for a new retrieve."""

    last_updated: str | None
    """ISO day."""
    last_publication_update: str | None
    status: int | str | None
    countries: tuple[tuple[str, int | str], ...]


def update_marks(search_record: Any) -> UpdateMarks:
    """The marks of a search record (or of an overlaid retrieve), in one form across API drift.

    A trial is retrieved again when its marks differ from those stored with it.
    """
    record = search_record if isinstance(search_record, Mapping) else {}
    return UpdateMarks(
        last_updated=iso_day(record.get("lastUpdated")),
        last_publication_update=iso_day(record.get("lastPublicationUpdate")),
        status=public_status(record),
        countries=country_statuses(record.get("trialCountries")),
    )


def _maps(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
