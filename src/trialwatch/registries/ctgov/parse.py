"""Pure helpers that read API v2 study records (no I/O).

Field paths follow the records the API returns for ``GET /studies/{nctId}``:
``protocolSection.identificationModule.nctId`` and so on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from trialwatch.errors import RegistryBadResponse

STUDY_URL = "https://clinicaltrials.gov/study/{nct_id}"
_CANONICAL_NCT_ID = re.compile(r"^NCT\d{8}$")


def canonical_json(record: Mapping[str, Any]) -> bytes:
    """The record as canonical JSON: sorted keys, no insignificant whitespace."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def content_hash(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


def get_path(record: Mapping[str, Any], path: str) -> Any:
    """``get_path(r, "protocolSection.statusModule.overallStatus")``; None when absent."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def nct_id_of(record: Mapping[str, Any]) -> str:
    nct_id = get_path(record, "protocolSection.identificationModule.nctId")
    if not isinstance(nct_id, str) or not nct_id:
        raise RegistryBadResponse(
            "a study record has no protocolSection.identificationModule.nctId"
        )
    return nct_id


# The pieces a membership listing asks for (``fields=``): what the sync needs to tell
# whether a listed study moved since its stored version. Piece names of the API's data
# structure; the answer nests them as in a full record
# (``protocolSection.statusModule.lastUpdatePostDateStruct.date``).
MEMBERSHIP_FIELDS = ("NCTId", "LastUpdatePostDate")


def last_update_of(record: Mapping[str, Any]) -> str | None:
    """The record's ``lastUpdatePostDateStruct.date``, or None."""
    value = get_path(record, "protocolSection.statusModule.lastUpdatePostDateStruct.date")
    return value if isinstance(value, str) else None


def record_problem(record: Any) -> str | None:
    """Why a record of a page cannot be stored (one short phrase), or None if it can."""
    nct_id = get_path(record, "protocolSection.identificationModule.nctId")
    if not isinstance(record, Mapping):
        return "not a JSON object"
    if not isinstance(nct_id, str) or not nct_id:
        return "no protocolSection.identificationModule.nctId"
    if not _CANONICAL_NCT_ID.match(nct_id):
        return f"nctId {nct_id[:40]!r} is not an NCT ID"
    try:
        summarise(record)
    except (AttributeError, TypeError, ValueError):
        return f"{nct_id}: a module of the record is not in the API's shape"
    return None


# The top-level properties of the Study schema of API v2 (ctg-oas-v2.yaml, 2.0.5).
KNOWN_SECTIONS = frozenset(
    {
        "protocolSection",
        "resultsSection",
        "annotationSection",
        "documentSection",
        "derivedSection",
        "hasResults",
    }
)


def unknown_sections(record: Mapping[str, Any]) -> set[str]:
    """The record's top-level keys that the API v2 Study schema does not define."""
    return {str(key) for key in record if key not in KNOWN_SECTIONS}


@dataclass(frozen=True)
class StudySummary:
    """The few fields of a record that TrialWatch lists, sorts and filters on."""

    nct_id: str
    brief_title: str
    acronym: str | None
    overall_status: str | None
    phases: tuple[str, ...]
    last_update_posted: str | None
    has_results: bool
    lead_sponsor: str | None = None
    conditions: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    """The countries of the study's sites, sorted, each once."""


def summarise(record: Mapping[str, Any]) -> StudySummary:
    """The listing fields of a record; a field of another type than the spec's is left out
    (a list ``overallStatus`` never reaches a text column)."""
    ident = get_path(record, "protocolSection.identificationModule") or {}
    status = get_path(record, "protocolSection.statusModule") or {}
    protocol = record.get("protocolSection") or {}
    sponsor = get_path(protocol, "sponsorCollaboratorsModule.leadSponsor.name")
    locations = get_path(protocol, "contactsLocationsModule.locations")
    return StudySummary(
        nct_id=nct_id_of(record),
        brief_title=_text(ident.get("briefTitle")) or _text(ident.get("officialTitle")) or "",
        acronym=_text(ident.get("acronym")),
        overall_status=_text(status.get("overallStatus")),
        phases=_texts(get_path(record, "protocolSection.designModule.phases")),
        last_update_posted=last_update_of(record),
        has_results=record.get("hasResults") is True,
        lead_sponsor=_text(sponsor),
        conditions=_texts(get_path(protocol, "conditionsModule.conditions")),
        countries=tuple(
            sorted({loc["country"] for loc in _maps(locations) if _text(loc.get("country"))})
        ),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _maps(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
