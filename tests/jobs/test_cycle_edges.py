"""The cycle at its edges: database errors in a step, alerts mailed in the cycle that
queued them, timestamps in the future (both databases, real HTTP to the fake API)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update

from tests.support.fakeapi import FakeCtgov
from trialwatch.clock import utcnow
from trialwatch.config import Settings
from trialwatch.digest.schedule import is_due
from trialwatch.jobs.cycle import due_reason, run_cycle
from trialwatch.jobs.runner import Jobs
from trialwatch.services import watchlist_files
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Digest, HealthAlert, Subscription, SyncRun, Watchlist
from trialwatch.store.subscribers import SubscriptionRequest
from trialwatch.watchlists import Criteria, WatchlistSpec

MMN = Criteria(conditions=("multifocal motor neuropathy",))
ADMIN = "admin@example.org"


def _jobs(engine: Engine, database_url: str, tmp_path: Path, api_url: str, **extra: Any) -> Jobs:
    settings = Settings(
        database_url=database_url,
        api_url=api_url,
        requests_per_minute=0,
        max_attempts=1,
        mail=f"file:{tmp_path / 'outbox'}",
        state_dir=tmp_path,
        admin_emails=ADMIN,
        **extra,
    )
    return Jobs(settings, engine)


def _watchlist(engine: Engine, created_days_ago: float = 0.0) -> None:
    spec = WatchlistSpec(slug="mmn", name="MMN", criteria=MMN)
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, [spec], utcnow() - timedelta(days=created_days_ago))


def _mailed(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "outbox").glob("*.eml"))


def test_a_database_error_in_a_step_is_recorded_and_the_next_cycle_recovers(
    engine: Engine, database_url: str, fake: FakeCtgov, tmp_path: Path
) -> None:
    """The outbox table gone: digests and delivery fail in one line each, the cycle ends;
    back again: the next cycle mails."""
    _watchlist(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        subscriber_store.subscribe(
            session,
            SubscriptionRequest(
                email="ana@example.org", watchlists=("mmn",), frequency="immediate"
            ),
            utcnow(),
        )
    jobs = _jobs(engine, database_url, tmp_path, fake.base_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE digest RENAME TO digest_away"))
    try:
        broken = run_cycle(jobs)
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE digest_away RENAME TO digest"))
    assert broken.synced == ["mmn"]
    steps = sorted(error.partition(":")[0] for error in broken.errors)
    assert "digests" in steps, broken.errors
    assert "delivery" in steps, broken.errors
    assert all("\n" not in error for error in broken.errors)
    recovered = run_cycle(jobs, force=True)
    assert recovered.ok, recovered.errors
    assert recovered.sent >= 1


def test_a_health_alert_leaves_in_the_cycle_that_queued_it(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """The registry unreachable and the watchlist stale: the alert is mailed this cycle."""
    _watchlist(engine, created_days_ago=3)
    jobs = _jobs(engine, database_url, tmp_path, "http://127.0.0.1:9/api/v2")
    result = run_cycle(jobs)
    assert any(error.startswith("registry:") for error in result.errors)
    with session_scope(make_sessionmaker(engine)) as session:
        assert session.get(HealthAlert, "stale:mmn") is not None
        statuses = list(session.scalars(select(Digest.status).where(Digest.kind == "alert")))
    assert statuses == ["sent"]
    assert len(_mailed(tmp_path)) == 1


def test_timestamps_in_the_future_are_clamped_logged_and_alerted(
    engine: Engine,
    database_url: str,
    fake: FakeCtgov,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After a cycle with the clock 30 days ahead, the next cycle clamps every such
    timestamp to now, says so in a log line and in one admin alert."""
    _watchlist(engine)
    jobs = _jobs(engine, database_url, tmp_path, fake.base_url)
    with session_scope(make_sessionmaker(engine)) as session:
        subscriber_store.subscribe(
            session,
            SubscriptionRequest(email="ana@example.org", watchlists=("mmn",), frequency="daily"),
            utcnow(),
        )
    assert run_cycle(jobs).ok
    ahead = utcnow() + timedelta(days=30)
    with engine.begin() as conn:
        conn.execute(update(Subscription).values(last_digest_at=ahead))
        conn.execute(update(Watchlist).values(last_synced_at=ahead))
        conn.execute(update(SyncRun).values(started_at=ahead, finished_at=ahead))
    caplog.set_level("WARNING", logger="trialwatch")
    before = utcnow()
    result = run_cycle(jobs)
    after = utcnow()
    assert result.ok, result.errors
    with session_scope(make_sessionmaker(engine)) as session:
        stamps = [
            *session.scalars(select(Subscription.last_digest_at)),
            *session.scalars(select(Watchlist.last_synced_at)),
            *session.scalars(select(SyncRun.finished_at)),
        ]
        alert = session.get(HealthAlert, "clock")
    assert all(s is not None and s <= after for s in stamps), stamps
    assert all(s is not None and s >= before - timedelta(seconds=1) for s in stamps), stamps
    assert alert is not None
    assert alert.active
    assert "in the future" in caplog.text
    subjects = [p.read_text() for p in _mailed(tmp_path)]
    assert any("clock" in s.lower() for s in subjects)
    assert run_cycle(jobs).ok  # nothing ahead any more: the alert clears
    with session_scope(make_sessionmaker(engine)) as session:
        alert = session.get(HealthAlert, "clock")
        assert alert is not None
        assert not alert.active


NOW = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)


def test_a_schedule_never_waits_for_a_date_the_clock_has_not_reached() -> None:
    """Last digest / last sync 30 days ahead: due as if it had been now, not in 30 days."""
    future = NOW + timedelta(days=30)
    tomorrow = NOW + timedelta(days=1)
    assert is_due("daily", future, tomorrow, "UTC")
    assert is_due("weekly", future, NOW + timedelta(days=7), "UTC")
    row = Watchlist(
        slug="mmn",
        name="MMN",
        criteria=MMN.to_dict(),
        criteria_hash=MMN.criteria_hash(),
        schedule="0 11 * * *",
        enabled=True,
        last_synced_at=future,
        data_timestamp="2026-12-01T09:00:00",
    )
    assert due_reason(row, "2026-12-01T09:00:00", tomorrow) is not None
