"""Housekeeping: old sent outbox copies, rate-limit windows and admin sessions are deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from tests.support.cli import ROOT
from trialwatch.config import load_settings
from trialwatch.jobs.housekeeping import prune_web_state, purge_sent_outbox
from trialwatch.jobs.runner import Jobs
from trialwatch.store import ratelimits
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Digest, WebSession

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _add(engine: Engine, rows: list[tuple[str, str, datetime | None]]) -> None:
    """Outbox rows (message id, status, sent at), alert mails with no subscriber."""
    with session_scope(make_sessionmaker(engine)) as session:
        for message_id, status, sent_at in rows:
            session.add(
                Digest(
                    kind="alert",
                    status=status,
                    message_id=f"<{message_id}@trialwatch.example>",
                    recipient="admin@example.org",
                    subject=message_id,
                    message="Subject: x\n\nx\n",
                    covered={},
                    next_attempt_at=sent_at or NOW,
                    sent_at=sent_at,
                    created_at=sent_at or NOW,
                )
            )


def _left(engine: Engine) -> set[str]:
    with session_scope(make_sessionmaker(engine)) as session:
        return set(session.scalars(select(Digest.subject)))


def test_purge_deletes_only_sent_messages_older_than_the_retention(engine: Engine) -> None:
    """Old sent copies go; recent sent, queued, sending and failed messages stay."""
    old = NOW - timedelta(days=91)
    _add(
        engine,
        [
            ("old-sent", "sent", old),
            ("older-sent", "sent", NOW - timedelta(days=400)),
            ("recent-sent", "sent", NOW - timedelta(days=89)),
            ("old-failed", "failed", None),
            ("old-queued", "queued", None),
            ("sending", "sending", None),
        ],
    )
    deleted = purge_sent_outbox(engine, retention=timedelta(days=90), now=NOW)
    assert deleted == 2
    assert _left(engine) == {"recent-sent", "old-failed", "old-queued", "sending"}
    assert purge_sent_outbox(engine, retention=timedelta(days=90), now=NOW) == 0


def test_jobs_housekeeping_uses_the_outbox_retention_setting_and_the_clock(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """Jobs.housekeeping() purges with TRIALWATCH_OUTBOX_RETENTION at the injected now."""
    _add(
        engine,
        [
            ("eleven-days", "sent", NOW - timedelta(days=11)),
            ("nine-days", "sent", NOW - timedelta(days=9)),
        ],
    )
    settings = load_settings(
        {
            "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
            "TRIALWATCH_DATABASE_URL": database_url,
            "TRIALWATCH_OUTBOX_RETENTION": "10d",
            "TRIALWATCH_STATE_DIR": str(tmp_path),
        }
    )
    jobs = Jobs(settings, engine, clock=lambda: NOW)
    assert jobs.housekeeping() == 1
    assert _left(engine) == {"nine-days"}


def test_prune_web_state_deletes_old_limit_windows_and_expired_sessions(engine: Engine) -> None:
    """Limit windows older than a day and sessions expired a day ago go; current ones stay."""
    with session_scope(make_sessionmaker(engine)) as session:
        ratelimits.hit(session, "subscribe:ip:127.0.0.1", NOW - timedelta(days=2), HOUR)
        ratelimits.hit(session, "login:ip:127.0.0.1", NOW - timedelta(days=2), HOUR)
        ratelimits.hit(session, "subscribe:ip:127.0.0.1", NOW, HOUR)
        for key, expires in (("old", NOW - timedelta(days=2)), ("live", NOW + HOUR)):
            session.add(
                WebSession(id=key, csrf="c", created_at=NOW - timedelta(days=3), expires_at=expires)
            )
    assert prune_web_state(engine, now=NOW) == 3
    with session_scope(make_sessionmaker(engine)) as session:
        assert ratelimits.count(session, "subscribe:ip:127.0.0.1", NOW, HOUR) == 1
        assert set(session.scalars(select(WebSession.id))) == {"live"}
