"""Pure helpers that read API v2 study records (no I/O).

Field paths follow the records the API returns for ``GET /studies/{nctId}``:
``protocolSection.identificationModule.nctId`` and so on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import orjson

from trialwatch.errors import RegistryBadResponse

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
    if any(_not_a_module(get_path(record, path)) for path in _MODULES_READ):
        return f"{nct_id}: a module of the record is not in the API's shape"
    return None


# The modules whose fields a record's listing columns come from: one of another
# shape than an object makes the record unfit to store (``summary`` would leave it out).
_MODULES_READ = ("protocolSection.identificationModule", "protocolSection.statusModule")


def _not_a_module(value: Any) -> bool:
    """A present value that is not an object (an empty one reads as absent)."""
    return bool(value) and not isinstance(value, Mapping)


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
