"""Records into the store: versions and their changes, and the backfill of old versions."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from tests.factories import make_watchlist_and_run
from trialwatch.jobs import records
from trialwatch.jobs.records import study_row
from trialwatch.store import studies as study_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Change

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ctgov"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_backfill_computes_changes_for_versions_without_them(engine: Engine) -> None:
    """Versions stored without change rows get them, once; a second backfill adds nothing."""
    record = json.loads((FIXTURES / "NCT06171568.json").read_text())
    edited = copy.deepcopy(record)
    edited["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
    factory = make_sessionmaker(engine)
    _, run_id = make_watchlist_and_run(engine)
    with session_scope(factory) as session:
        for version in (record, edited):  # versions only, as stored before change detection
            study_store.store_versions(session, [study_row(version)], run_id=run_id, now=NOW)
    with session_scope(factory) as session:
        assert records.backfill_changes(session, NOW)[0] == 2
    with session_scope(factory) as session:
        kinds = [c.kind for c in session.scalars(select(Change).order_by(Change.id))]
        assert kinds[0] == "new_study"
        assert "overall_status" in kinds
        assert records.backfill_changes(session, NOW) == (0, 0)
