"""``trialwatch status``: watchlists, outbox, leader and registry data at a glance."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine, func, select

from tests.support.cli import assert_one_line_error, run_cli
from trialwatch.services import watchlist_files
from trialwatch.store import lease
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.changes import list_changes
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import (
    Change,
    Digest,
    Lease,
    SyncRun,
    Watchlist,
    WatchlistStudy,
)
from trialwatch.watchlists import Criteria, WatchlistSpec

KEYS = {"watchlists", "outbox", "leader", "data_timestamp"}
WATCHLIST_KEYS = {
    "slug",
    "enabled",
    "last_success",
    "last_error",
    "next_run",
    "studies",
    "changes_7d",
}
OUTBOX_KEYS = {"queued", "sending", "sent", "failed"}
ERROR = "HTTP 503 from [bold]registry[/bold] [/]"
OWNER = "host[1]:42:[red]x[/red]"


def _now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Fix the command's clock a second from now (after anything the test synced)."""
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    monkeypatch.setattr("trialwatch.clock.utcnow", lambda: now)
    return now


def _next_run(schedule: str, now: datetime) -> str:
    trigger = CronTrigger.from_crontab(schedule, timezone=UTC)
    fire = trigger.get_next_fire_time(None, now)
    assert fire is not None
    return str(fire.isoformat())


def _status(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code, out, err = run_cli(capsys, "status", "--json")
    assert "Traceback" not in out + err, err
    assert code == 0, err
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


@pytest.mark.usefixtures("cli_env")
def test_status_of_a_fresh_database_has_every_key_and_no_history(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before any sync: the watchlist with its next run, an empty outbox, no leader."""
    assert run_cli(capsys, "init")[0] == 0
    now = _now(monkeypatch)
    data = _status(capsys)
    assert set(data) == KEYS
    assert data == {
        "watchlists": [
            {
                "slug": "mmn",
                "enabled": True,
                "last_success": None,
                "last_error": None,
                "next_run": _next_run("0 6 * * *", now),
                "studies": 0,
                "changes_7d": 0,
            }
        ],
        "outbox": {"queued": 0, "sending": 0, "sent": 0, "unconfirmed": 0, "failed": 0},
        "leader": None,
        "data_timestamp": None,
    }


def _add_history(engine: Engine, now: datetime) -> tuple[str, int, int]:
    """After a sync of mmn: a newer failed run, older/noise/recent changes, outbox rows,
    a lease and data timestamps; a disabled second watchlist. Returns the sync's finish
    time, the members and the expected 7-day change count of mmn."""
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(
            session,
            [
                WatchlistSpec(
                    slug="other",
                    name="Other",
                    criteria=Criteria(conditions=("other",)),
                    enabled=False,
                )
            ],
            now,
        )
        mmn = watchlist_store.get_watchlist(session, "mmn")
        other = watchlist_store.get_watchlist(session, "other")
        succeeded = session.scalars(
            select(SyncRun).where(SyncRun.watchlist_id == mmn.id, SyncRun.status == "succeeded")
        ).one()
        assert succeeded.finished_at is not None
        session.add(
            SyncRun(
                watchlist_id=mmn.id,
                mode="incremental",
                status="failed",
                started_at=now,
                finished_at=now,
                api_url="x",
                error=ERROR,
            )
        )
        members = session.scalar(
            select(func.count())
            .select_from(WatchlistStudy)
            .where(WatchlistStudy.watchlist_id == mmn.id, WatchlistStudy.left_at.is_(None))
        )
        assert members
        recent = len(list_changes(session, watchlist_id=mmn.id, since=now - timedelta(days=7)))
        assert recent > 0
        study_id = session.scalars(
            select(WatchlistStudy.study_id).where(WatchlistStudy.watchlist_id == mmn.id)
        ).first()
        assert study_id is not None
        for days, significance in [(8, "major"), (1, "noise"), (6, "major"), (2, "minor")]:
            session.add(
                Change(
                    study_id=study_id,
                    kind="enrollment",
                    field="enrollment",
                    summary="Enrollment: 10 → 20",
                    significance=significance,
                    countries=[],
                    detected_at=now - timedelta(days=days),
                )
            )
        for number, status in enumerate(["queued", "queued", "sent", "failed"]):
            session.add(
                Digest(
                    kind="alert",
                    status=status,
                    message_id=f"<status.{number}@trialwatch.example>",
                    recipient="admin@example.org",
                    subject="x",
                    message="x",
                    covered={},
                    next_attempt_at=now,
                    sent_at=now if status == "sent" else None,
                    created_at=now,
                )
            )
        session.add(
            Lease(
                name=lease.SCHEDULER,
                owner=OWNER,
                acquired_at=now - timedelta(minutes=5),
                expires_at=now - timedelta(minutes=1),
            )
        )
        mmn.data_timestamp = "2026-11-28T09:00:05"
        other.data_timestamp = "2026-11-20T09:00:05"
        return succeeded.finished_at.isoformat(), members, recent + 2


@pytest.mark.usefixtures("cli_env")
def test_status_reports_runs_members_recent_changes_outbox_and_leader(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    """Last success and last error, 7-day mailable changes, all outbox counts, the lease."""
    assert run_cli(capsys, "init")[0] == 0
    assert run_cli(capsys, "sync", "mmn")[0] == 0
    now = _now(monkeypatch)
    last_success, members, changes = _add_history(engine, now)
    data = _status(capsys)
    assert set(data) == KEYS
    watchlists = data["watchlists"]
    assert isinstance(watchlists, list)
    assert [set(w) for w in watchlists] == [WATCHLIST_KEYS, WATCHLIST_KEYS]
    assert watchlists == [
        {
            "slug": "mmn",
            "enabled": True,
            "last_success": last_success,
            "last_error": ERROR,
            "next_run": _next_run("0 6 * * *", now),
            "studies": members,
            "changes_7d": changes,
        },
        {
            "slug": "other",
            "enabled": False,
            "last_success": None,
            "last_error": None,
            "next_run": None,
            "studies": 0,
            "changes_7d": 0,
        },
    ]
    assert data["outbox"] == {"queued": 2, "sending": 0, "sent": 1, "unconfirmed": 0, "failed": 1}
    # An expired lease is still shown, with its expiry: the reader judges it.
    assert data["leader"] == {
        "owner": OWNER,
        "expires": (now - timedelta(minutes=1)).isoformat(),
    }
    assert data["data_timestamp"] == "2026-11-28T09:00:05"


@pytest.mark.usefixtures("cli_env")
def test_last_error_clears_once_the_newest_run_succeeds(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    """last_error is the newest run's error only while that run failed."""
    assert run_cli(capsys, "init")[0] == 0
    with session_scope(make_sessionmaker(engine)) as session:
        wl = watchlist_store.get_watchlist(session, "mmn")
        session.add(
            SyncRun(
                watchlist_id=wl.id,
                mode="full",
                status="failed",
                started_at=datetime(2026, 1, 1, tzinfo=UTC),
                finished_at=datetime(2026, 1, 1, tzinfo=UTC),
                api_url="x",
                error=ERROR,
            )
        )
    assert run_cli(capsys, "sync", "mmn")[0] == 0
    _now(monkeypatch)
    watchlists = _status(capsys)["watchlists"]
    assert isinstance(watchlists, list)
    [row] = watchlists
    assert row["last_error"] is None
    assert row["last_success"] is not None


@pytest.mark.usefixtures("cli_env")
def test_status_text_is_a_table_printing_database_text_literally(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    """The text form names each watchlist and shows errors and the owner as stored."""
    assert run_cli(capsys, "init")[0] == 0
    assert run_cli(capsys, "sync", "mmn")[0] == 0
    now = _now(monkeypatch)
    _add_history(engine, now)
    code, out, err = run_cli(capsys, "status")
    assert "Traceback" not in out + err, err
    assert code == 0, err
    assert "mmn" in out
    assert "other" in out
    assert ERROR in out
    assert OWNER in out
    assert "2026-11-28T09:00:05" in out
    assert "queued 2" in out
    assert "sending 0" in out


@pytest.mark.usefixtures("bare_env")
def test_status_of_a_missing_database_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """No database yet: one line telling to run init, exit 2."""
    assert_one_line_error(run_cli(capsys, "status", "--json"), 2, "trialwatch init")


@pytest.mark.usefixtures("cli_env")
def test_status_without_any_lease_row_has_a_null_leader(
    capsys: pytest.CaptureFixture[str], engine: Engine
) -> None:
    """Only the absence of a lease row makes the leader null."""
    assert run_cli(capsys, "init")[0] == 0
    with session_scope(make_sessionmaker(engine)) as session:
        assert session.get(Lease, lease.SCHEDULER) is None
        assert session.scalar(select(func.count()).select_from(Watchlist)) == 1
    assert _status(capsys)["leader"] is None
