"""Records into the store: parse and hash them, store versions, detect and write changes.

The domain work of storing a page lives here, between the pure packages and the
store: each record's :class:`~trialwatch.trial.TrialSummary` (``ctgov.summary``) gives
the listing columns of its :class:`~trialwatch.store.studies.StudyRow`,
the store writes the versions that changed and the membership, ``diff`` compares
each new version with the one it replaced, and the store writes the change rows,
all in the caller's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from trialwatch.diff import Change as DiffChange
from trialwatch.identity import RegistryId, links_of
from trialwatch.registries.ctgov.differ import diff_records
from trialwatch.registries.ctgov.fieldtypes import Unit, field_drift, unit_value, without_drift
from trialwatch.registries.ctgov.parse import (
    canonical_json,
    content_hash,
    nct_id_of,
    unknown_sections,
)
from trialwatch.registries.ctgov.summary import summarise
from trialwatch.store import changes as change_store
from trialwatch.store import links as link_store
from trialwatch.store import runs as run_store
from trialwatch.store import studies as study_store
from trialwatch.store.studies import StoredVersion, StoreResult, StudyRow

log = logging.getLogger("trialwatch.jobs.records")


def study_row(record: Mapping[str, Any]) -> StudyRow:
    """A record as the store writes it: canonical JSON, its hash and the listing columns."""
    canonical = canonical_json(record)
    trial = summarise(record)
    return StudyRow(
        nct_id=nct_id_of(record),
        canonical=canonical,
        content_hash=content_hash(canonical),
        brief_title=trial.title,
        acronym=trial.acronym,
        overall_status=trial.status,
        phases=",".join(trial.phases),
        last_update_posted=trial.last_update,
        has_results=trial.has_results,
        lead_sponsor=trial.sponsor,
        conditions=trial.conditions,
        countries=trial.countries,
        links=tuple(
            (link.registry, link.id)
            for link in links_of(RegistryId(trial.ref.registry, trial.ref.id), trial.other_ids)
        ),
    )


@dataclass
class PageOutcome:
    """What storing one page did."""

    new: int
    updated: int
    unchanged: int
    changes: int
    max_last_update: date | None
    unknown_sections: set[str] = field(default_factory=set)
    """Top-level sections of the page's records outside the API's Study schema."""
    drifted: int = 0
    """Records with a field of another JSON type than the spec gives (stored, not diffed)."""
    drift: set[str] = field(default_factory=set)
    """What drifted: ``"<path>: <type>, expected <type>"``."""


def store_records(
    session: Session,
    records: Sequence[dict[str, Any]],
    *,
    watchlist_id: int,
    run_id: int,
    now: datetime,
    touch_membership: bool = True,
) -> PageOutcome:
    """Store a page of records, the watchlist membership and the changes they make.

    A new study's ``new_study`` change belongs to the watchlist that found it; an
    existing study joining another watchlist gets a ``new_study`` change for that
    watchlist only. Everything else is study-level (``watchlist_id`` NULL).

    Fields of another JSON type than the spec's are not diffed (``ctgov.fieldtypes``);
    the run counts the records that have some and names what drifted.
    """
    by_nct = {nct_id_of(r): r for r in records}
    drift = {nct: found for nct, r in by_nct.items() if (found := field_drift(r))}
    rows = [study_row(r) for r in by_nct.values()]
    stored = study_store.store_versions(session, rows, run_id=run_id, now=now)
    by_id = {row.nct_id: row for row in rows}
    link_store.record_links(
        session,
        {v.study_id: (v.version_id, by_id[v.nct_id].links) for v in stored.stored},
        now,
    )
    joined: list[int] = []
    if touch_membership and stored.ids:
        joined = study_store.touch_membership(
            session, watchlist_id, sorted(stored.ids.values()), run_id, now
        )
    pairs = _Pairs(by_nct, drift)
    change_list = _page_changes(session, stored, pairs, joined, watchlist_id, run_id, now)
    change_store.insert_changes(session, change_list)
    names = {name for found in drift.values() for name in found}
    if drift:
        run_store.add_drift(session, run_id, len(drift), names)
        log.warning(
            "records with fields of another type than the spec run=%d records=%d: %s",
            run_id,
            len(drift),
            "; ".join(sorted(names)[:5]),
        )
    return PageOutcome(
        new=stored.new,
        updated=stored.updated,
        unchanged=stored.unchanged,
        changes=len(change_list),
        max_last_update=max(
            filter(None, (parse_day(r.last_update_posted) for r in rows)), default=None
        ),
        unknown_sections=set().union(*(unknown_sections(r) for r in records)),
        drifted=len(drift),
        drift=names,
    )


@dataclass
class _Pairs:
    """The page's records by NCT ID and what drifted in each; the pairs to diff."""

    by_nct: Mapping[str, dict[str, Any]]
    drift: Mapping[str, dict[str, Unit]]

    def diff(
        self, old: Mapping[str, Any] | None, nct_id: str, earlier: Earlier | None = None
    ) -> list[DiffChange]:
        """The changes from ``old`` to the page's record, drifted fields left out."""
        new = self.by_nct[nct_id]
        return diff_records(*_undrifted(old, new, self.drift.get(nct_id), earlier))


Earlier = Callable[[set[Unit]], dict[Unit, Any]]
"""Units drifted in the old record -> their value in the newest earlier version in shape."""


def _undrifted(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    new_drift: dict[str, Unit] | None,
    earlier: Earlier | None = None,
) -> tuple[Mapping[str, Any] | None, Mapping[str, Any]]:
    """``old`` and ``new`` with the fields drifted on either side the same on both; a
    field whose type came back is compared with its value before the drift, if known."""
    old_drift = field_drift(old) if old is not None else None
    if not new_drift and not old_drift:
        return old, new
    old_units = set((old_drift or {}).values())
    before = earlier(old_units) if earlier is not None and old_units else {}
    return without_drift(old, new, old_units, set((new_drift or {}).values()), before)


def _earlier_values(session: Session, version: StoredVersion) -> Earlier:
    """Look up, version by version back from the one before ``old_record``, the value
    each drifted unit had when it was last in shape (drift is rare: few reads)."""

    def look(units: set[Unit]) -> dict[Unit, Any]:
        found: dict[Unit, Any] = {}
        number = version.version - 2  # old_record is version - 1
        while number >= 1 and units - found.keys():
            record = study_store.record_by_version(session, version.study_id, number)
            if record is None:
                break
            drifted = set(field_drift(record).values())
            for unit in units - found.keys():
                if not any(unit[: len(d)] == d for d in drifted):
                    found[unit] = unit_value(record, unit)
            number -= 1
        return found

    return look


def _page_changes(
    session: Session,
    stored: StoreResult,
    pairs: _Pairs,
    joined: Sequence[int],
    watchlist_id: int,
    run_id: int,
    now: datetime,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for version in stored.stored:
        rows.extend(
            change_rows(
                pairs.diff(version.old_record, version.nct_id, _earlier_values(session, version)),
                study_id=version.study_id,
                version_id=version.version_id,
                watchlist_id=None,
                run_id=run_id,
                now=now,
            )
        )
    for row in rows:
        if row["kind"] == "new_study":
            row["watchlist_id"] = watchlist_id
    brand_new = {v.study_id for v in stored.stored if v.old_record is None}
    returning = [sid for sid in joined if sid not in brand_new]
    if returning:
        nct_of = {stored.ids[nct]: nct for nct in pairs.by_nct}
        current = study_store.current_version_ids(session, returning)
        for sid in returning:
            rows.extend(
                change_rows(
                    pairs.diff(None, nct_of[sid]),
                    study_id=sid,
                    version_id=current.get(sid),
                    watchlist_id=watchlist_id,
                    run_id=run_id,
                    now=now,
                )
            )
    return rows


def join_members(
    session: Session,
    *,
    watchlist_id: int,
    study_ids: Sequence[int],
    run_id: int,
    now: datetime,
) -> int:
    """Record that stored studies match the watchlist now, without fetching their records.

    Those that (re)joined the watchlist get its ``new_study`` change, made from their
    stored current record. Returns the number of change rows written.
    """
    if not study_ids:
        return 0
    joined = study_store.touch_membership(session, watchlist_id, sorted(study_ids), run_id, now)
    if not joined:
        return 0
    current = study_store.current_version_ids(session, joined)
    records = study_store.current_records(session, joined)
    rows: list[dict[str, Any]] = []
    for sid in joined:
        record = records.get(sid, {})
        rows.extend(
            change_rows(
                diff_records(*_undrifted(None, record, field_drift(record))),
                study_id=sid,
                version_id=current.get(sid),
                watchlist_id=watchlist_id,
                run_id=run_id,
                now=now,
            )
        )
    change_store.insert_changes(session, rows)
    return len(rows)


def change_rows(
    changes: Iterable[DiffChange],
    *,
    study_id: int,
    version_id: int | None,
    watchlist_id: int | None,
    run_id: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Change rows for the store from detected changes."""
    return [
        {
            "study_id": study_id,
            "version_id": version_id,
            "watchlist_id": watchlist_id,
            "sync_run_id": run_id,
            "kind": c.kind,
            "field": c.field,
            "old": c.old,
            "new": c.new,
            "summary": c.summary,
            "message": c.message,
            "params": dict(c.params),
            "significance": c.significance,
            "countries": list(c.countries),
            "detected_at": now,
        }
        for c in changes
    ]


def backfill_changes(session: Session, now: datetime, *, batch: int = 200) -> tuple[int, int]:
    """Compute changes for stored versions that have none; returns (versions, changes)."""
    todo = change_store.versions_without_changes(session)
    total = 0
    for start in range(0, len(todo), batch):
        rows: list[dict[str, Any]] = []
        for version_id, study_id, number in todo[start : start + batch]:
            new = study_store.record_by_version(session, study_id, number) or {}
            old = (
                study_store.record_by_version(session, study_id, number - 1) if number > 1 else None
            )
            earlier = _earlier_values(session, StoredVersion(study_id, version_id, number, "", old))
            rows.extend(
                change_rows(
                    diff_records(*_undrifted(old, new, field_drift(new), earlier)),
                    study_id=study_id,
                    version_id=version_id,
                    watchlist_id=None,
                    run_id=None,
                    now=now,
                )
            )
        change_store.insert_changes(session, rows)
        total += len(rows)
    return len(todo), total


def parse_day(value: str | None) -> date | None:
    """``"2025-03-14"`` or ``"2025-03"`` (month granularity) as a date; None otherwise."""
    if not value:
        return None
    try:
        if len(value) == 7:
            return date.fromisoformat(value + "-01")
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
