"""Change rows: backfill for old versions, raw leaf differences, --since parsing."""

from __future__ import annotations

import copy
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from tests.factories import make_watchlist_and_run
from trialwatch.diff.leaves import leaf_differences
from trialwatch.errors import ConfigError
from trialwatch.jobs import records
from trialwatch.jobs.records import study_row
from trialwatch.store import changes as change_store
from trialwatch.store import studies as study_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Change
from trialwatch.timeparse import parse_since

FIXTURES = Path(__file__).parent / "fixtures" / "ctgov"
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


def test_leaf_differences_lists_every_changed_leaf() -> None:
    """Changed, added and removed leaves are listed with their paths."""
    old = {"a": {"b": 1, "c": [1, 2]}, "gone": True}
    new = {"a": {"b": 2, "c": [1, 2, 3]}, "added": "x"}
    assert list(leaf_differences(old, new)) == [
        ("a.b", 1, 2),
        ("a.c[2]", None, 3),
        ("added", None, "x"),
        ("gone", True, None),
    ]
    assert list(leaf_differences(old, copy.deepcopy(old))) == []
    assert list(leaf_differences({"n": 1}, {"n": 1.0})) == [("n", 1, 1.0)]


def test_since_accepts_dates_and_durations() -> None:
    """7d, 24h, 2w and ISO dates; anything else is a one-line error."""
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since("24h", NOW) == NOW - timedelta(hours=24)
    assert parse_since("2w", NOW) == NOW - timedelta(weeks=2)
    assert parse_since("2026-11-01", NOW) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="--since: 'yesterday'"):
        parse_since("yesterday", NOW)


def test_the_digest_horizon_waits_for_changes_being_written(engine: Engine) -> None:
    """On PostgreSQL, the horizon is read only once in-flight change writers commit."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: ids are committed in order")
    record = json.loads((FIXTURES / "NCT06171568.json").read_text())
    factory = make_sessionmaker(engine)
    wl_id, run_id = make_watchlist_and_run(engine)
    with session_scope(factory) as session:
        records.store_records(session, [record], watchlist_id=wl_id, run_id=run_id, now=NOW)
    writer = factory()
    edited = copy.deepcopy(record)
    edited["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
    page = records.store_records(writer, [edited], watchlist_id=wl_id, run_id=run_id, now=NOW)
    assert page.changes
    seen: list[int] = []

    def read_horizon() -> None:
        with session_scope(factory) as reader:
            seen.append(change_store.newest_change_id(reader))

    thread = threading.Thread(target=read_horizon)
    thread.start()
    thread.join(timeout=0.5)
    assert thread.is_alive()  # waiting for the writer
    writer.commit()
    writer.close()
    thread.join(timeout=10)
    with session_scope(factory) as session:
        assert seen == [session.scalar(select(func.max(Change.id)))]
