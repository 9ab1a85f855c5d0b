"""Rows for researchers: one per study (its record and provenance) or per change (pure).

``trialwatch export`` and ``trialwatch changes --format csv|json`` write these rows.
In JSON a list stays a list; in CSV every cell is text, so a list (or a value of any
shape, as a change's old and new values) is written as JSON (``["Leiden; site 2","Paris"]``,
``[]`` when empty), and a yes/no as ``true`` / ``false``: a value holding ``;``, ``,``
or quotes reads back as it was with ``json.loads`` of the cell.

A study's row is read from its :class:`~trialwatch.trial.TrialSummary` (the caller
summarises the stored record with ``registries.lookup.summarise``), never from a record.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import orjson

from trialwatch.errors import ConfigError
from trialwatch.registries.lookup import study_url
from trialwatch.trial import TrialDate, TrialSummary

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


def study_row(trial: TrialSummary, provenance: Provenance) -> dict[str, Any]:
    """One row per study, every column of :data:`STUDY_COLUMNS` in their order."""
    dates, eligibility, enrollment = trial.dates, trial.eligibility, trial.enrollment
    nct_id = trial.ref.id or None
    row: dict[str, Any] = {
        "nct_id": nct_id,
        "title": trial.title,
        "acronym": trial.acronym,
        "status": trial.registry_status,
        "last_known_status": trial.last_known_status,
        "why_stopped": trial.why_stopped,
        "study_type": trial.study_type,
        "phases": list(trial.phases),
        "conditions": list(trial.conditions),
        "interventions": list(trial.interventions),
        "sponsor": trial.sponsor,
        "collaborators": list(trial.collaborators),
        "enrollment": enrollment.count if enrollment else None,
        "enrollment_type": enrollment.registry_type if enrollment else None,
    }
    for column, date in (
        ("start_date", dates.start),
        ("primary_completion_date", dates.primary_completion),
        ("completion_date", dates.completion),
    ):
        row[column], row[f"{column}_type"] = _date(date), date.registry_type if date else None
    row |= {
        "first_posted": _date(dates.first_posted),
        "results_first_posted": _date(dates.results_first_posted),
        "last_update_posted": trial.last_update,
        "has_results": trial.has_results,
        "min_age": eligibility.minimum_age,
        "max_age": eligibility.maximum_age,
        "sex": eligibility.sex,
        "site_count": len(trial.sites),
        "countries": list(trial.countries),
        "watchlists": sorted(provenance.watchlists),
        "url": study_url(trial.ref.registry, nct_id) if nct_id else None,
        "version": provenance.version,
        "content_hash": provenance.content_hash,
        "fetched_at": provenance.fetched_at.isoformat(),
        "data_timestamp": provenance.data_timestamp,
    }
    return {column: row[column] for column in STUDY_COLUMNS}


def _date(date: TrialDate | None) -> str | None:
    return date.value if date is not None else None


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
