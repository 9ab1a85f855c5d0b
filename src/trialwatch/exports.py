"""Rows for researchers: one per study (its record and provenance) or per change (pure).

``trialwatch export`` and ``trialwatch changes --format csv|json`` write these rows.
In JSON a list stays a list; in CSV every cell is text, so a list (or a value of any
shape, as a change's old and new values) is written as JSON (``["Leiden; site 2","Paris"]``,
``[]`` when empty), and a yes/no as ``true`` / ``false``: a value holding ``;``, ``,``
or quotes reads back as it was with ``json.loads`` of the cell.

Field paths follow the Study schema of API v2 (``ctg-oas-v2.yaml``, 2.0.5).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import orjson

from trialwatch.errors import ConfigError
from trialwatch.registries.ctgov.parse import STUDY_URL

STUDY_COLUMNS = (
    # The columns of earlier releases, in their places ...
    "nct_id",
    "title",
    "acronym",
    "status",
    "phases",
    "conditions",
    "interventions",
    "sponsor",
    "enrollment",
    "enrollment_type",
    "start_date",
    "primary_completion_date",
    "completion_date",
    "last_update_posted",
    "has_results",
    "countries",
    "url",
    # ... then the trial's details ...
    "study_type",
    "last_known_status",
    "why_stopped",
    "start_date_type",
    "primary_completion_date_type",
    "completion_date_type",
    "first_posted",
    "results_first_posted",
    "collaborators",
    "min_age",
    "max_age",
    "sex",
    "site_count",
    # ... and where the row comes from.
    "watchlists",
    "version",
    "content_hash",
    "fetched_at",
    "data_timestamp",
)
"""The columns of ``trialwatch export``, in their default order."""

CHANGE_COLUMNS = (
    "detected_at",
    "nct_id",
    "acronym",
    "title",
    "watchlist",
    "version",
    "posted",
    "kind",
    "significance",
    "field",
    "summary",
    "old",
    "new",
    "countries",
)
"""The columns of ``trialwatch changes --format csv|json``, in their default order."""

JSON_CELLS = frozenset(
    {
        "phases",
        "conditions",
        "interventions",
        "collaborators",
        "countries",
        "watchlists",
        "old",
        "new",
    }
)
"""Columns whose CSV cell is JSON: lists, and a change's values (of any shape)."""


class Provenance(Protocol):
    """Where a stored version comes from: what the store knows of it."""

    @property
    def version(self) -> int: ...
    @property
    def content_hash(self) -> str: ...
    @property
    def fetched_at(self) -> datetime: ...
    @property
    def data_timestamp(self) -> str | None:
        """The registry's ``dataTimestamp`` of the sync run that stored the version."""

    @property
    def watchlists(self) -> Sequence[str]:
        """Slugs of the watchlists the study is a member of."""


def study_row(record: Mapping[str, Any], provenance: Provenance) -> dict[str, Any]:
    """One row per study, every column of :data:`STUDY_COLUMNS` in their order."""
    protocol = record.get("protocolSection") or {}
    ident = protocol.get("identificationModule") or {}
    status = protocol.get("statusModule") or {}
    design = protocol.get("designModule") or {}
    eligibility = protocol.get("eligibilityModule") or {}
    sponsors = protocol.get("sponsorCollaboratorsModule") or {}
    locations = (protocol.get("contactsLocationsModule") or {}).get("locations") or []
    enrollment = design.get("enrollmentInfo") or {}
    nct_id = ident.get("nctId")
    row: dict[str, Any] = {
        "nct_id": nct_id,
        "title": ident.get("briefTitle") or ident.get("officialTitle") or "",
        "acronym": ident.get("acronym"),
        "status": status.get("overallStatus"),
        "last_known_status": status.get("lastKnownStatus"),
        "why_stopped": status.get("whyStopped"),
        "study_type": design.get("studyType"),
        "phases": list(design.get("phases") or []),
        "conditions": list((protocol.get("conditionsModule") or {}).get("conditions") or []),
        "interventions": _names(
            (protocol.get("armsInterventionsModule") or {}).get("interventions")
        ),
        "sponsor": (sponsors.get("leadSponsor") or {}).get("name"),
        "collaborators": _names(sponsors.get("collaborators")),
        "enrollment": enrollment.get("count"),
        "enrollment_type": enrollment.get("type"),
    }
    for column, struct in (
        ("start_date", "startDateStruct"),
        ("primary_completion_date", "primaryCompletionDateStruct"),
        ("completion_date", "completionDateStruct"),
    ):
        date = status.get(struct) or {}
        row[column], row[f"{column}_type"] = date.get("date"), date.get("type")
    row |= {
        "first_posted": (status.get("studyFirstPostDateStruct") or {}).get("date"),
        "results_first_posted": (status.get("resultsFirstPostDateStruct") or {}).get("date"),
        "last_update_posted": (status.get("lastUpdatePostDateStruct") or {}).get("date"),
        "has_results": bool(record.get("hasResults")),
        "min_age": eligibility.get("minimumAge"),
        "max_age": eligibility.get("maximumAge"),
        "sex": eligibility.get("sex"),
        "site_count": len(locations),
        "countries": sorted({str(site["country"]) for site in locations if site.get("country")}),
        "watchlists": sorted(provenance.watchlists),
        "url": STUDY_URL.format(nct_id=nct_id) if nct_id else None,
        "version": provenance.version,
        "content_hash": provenance.content_hash,
        "fetched_at": provenance.fetched_at.isoformat(),
        "data_timestamp": provenance.data_timestamp,
    }
    return {column: row[column] for column in STUDY_COLUMNS}


class ChangeLike(Protocol):
    """A stored change with its study, version and watchlist, as the store reads it."""

    @property
    def detected_at(self) -> datetime: ...
    @property
    def nct_id(self) -> str: ...
    @property
    def acronym(self) -> str | None: ...
    @property
    def title(self) -> str: ...
    @property
    def watchlist(self) -> str | None: ...
    @property
    def version(self) -> int | None: ...
    @property
    def posted(self) -> str | None:
        """``lastUpdatePostDate`` of the version that made the change."""

    @property
    def kind(self) -> str: ...
    @property
    def significance(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def old(self) -> Any: ...
    @property
    def new(self) -> Any: ...
    @property
    def countries(self) -> Sequence[str]: ...


def change_row(change: ChangeLike) -> dict[str, Any]:
    """One row per change, every column of :data:`CHANGE_COLUMNS` in their order."""
    row = {column: getattr(change, column) for column in CHANGE_COLUMNS}
    row["detected_at"] = change.detected_at.isoformat()
    row["countries"] = list(change.countries)
    return row


def choose_columns(fields: str | None, columns: Sequence[str]) -> tuple[str, ...]:
    """The columns ``--fields a,b,c`` names, in the order given (all of them when None).

    An unknown name is a ConfigError naming it, with the closest known ones.
    """
    if fields is None:
        return tuple(columns)
    chosen = tuple(dict.fromkeys(name.strip() for name in fields.split(",") if name.strip()))
    if not chosen:
        raise ConfigError(f"--fields: name one or more fields of: {', '.join(columns)}")
    for name in chosen:
        if name not in columns:
            close = difflib.get_close_matches(name, columns, n=3, cutoff=0.6)
            hint = f"closest: {', '.join(close)}" if close else f"fields: {', '.join(columns)}"
            raise ConfigError(f"--fields: unknown field '{name}' ({hint})")
    return chosen


def pick(row: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    """The row with only ``columns``, in their order."""
    return {column: row[column] for column in columns}


def csv_cells(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row's values as CSV cells (see the module docstring); None stays an empty cell."""
    cells: dict[str, Any] = {}
    for column, value in row.items():
        if column in JSON_CELLS or isinstance(value, list | dict):
            cells[column] = orjson.dumps(value).decode()
        elif isinstance(value, bool):
            cells[column] = "true" if value else "false"
        else:
            cells[column] = value
    return cells


def _names(items: Any) -> list[str]:
    return [str(item["name"]) for item in items or [] if item.get("name")]
