"""Health alerts to admins: conditions start and clear once, mailed through the outbox."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.factories import SENDER
from tests.support.cli import ROOT
from tests.support.fakeapi import FakeCtgov, load_fixture_records
from tests.support.smtpserver import SmtpServer
from trialwatch.config import Settings
from trialwatch.jobs.delivery import send_digests_once
from trialwatch.jobs.health import HealthResult, check_health
from trialwatch.jobs.runner import Jobs
from trialwatch.jobs.sync import SyncResult, sync_watchlist
from trialwatch.mail.templates import make_environment
from trialwatch.mail.transport import SmtpTransport
from trialwatch.registries.ctgov.client import CtgovClient
from trialwatch.registries.ctgov.parse import unknown_sections
from trialwatch.registries.ctgov.registry import CtgovRegistry
from trialwatch.services import watchlist_files
from trialwatch.store import health as health_store
from trialwatch.store import outbox
from trialwatch.store import watchlists as watchlist_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Digest, HealthAlert, SyncRun
from trialwatch.watchlists import load_watchlists

ADMIN = "ops@trialwatch.example"
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
MMN_IDS = ("NCT05225675", "NCT06537999", "NCT06742190")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _init(engine: Engine, at: datetime = T0) -> None:
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_files.save(session, load_watchlists(ROOT / "config" / "watchlists"), at)


def _sync(engine: Engine, fake: FakeCtgov, at: datetime, *, full: bool = False) -> SyncResult:
    with CtgovRegistry(CtgovClient(fake.base_url, requests_per_minute=0)) as registry:
        return sync_watchlist(engine, registry, "mmn", full=full, now=lambda: at)


def _check(
    engine: Engine, at: datetime, admins: Sequence[str] = (ADMIN,), **limits: Any
) -> HealthResult:
    return check_health(
        engine,
        make_environment(),
        admins=admins,
        sender=SENDER,
        stale_after=timedelta(hours=48),
        now=at,
        **limits,
    )


def _deliver(engine: Engine, smtp: SmtpServer, at: datetime) -> None:
    result = send_digests_once(
        engine, SmtpTransport.from_url(smtp.url), sender=SENDER, now=lambda: at
    )
    assert result.error is None


def _mails(smtp: SmtpServer) -> list[EmailMessage]:
    return [m.message for m in smtp.messages]


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def _alerts(engine: Engine) -> dict[str, HealthAlert]:
    with session_scope(make_sessionmaker(engine)) as session:
        return {a.key: a for a in session.scalars(select(HealthAlert))}


def _drop_all(fake: FakeCtgov) -> dict[str, dict[str, Any]]:
    """Remove every MMN record from the fake registry; return them."""
    records = {nct: fake.get(nct) for nct in MMN_IDS}
    for nct in MMN_IDS:
        fake.remove(nct)
    return records


# --- matches falling to zero -------------------------------------------------------------------


def test_a_full_sync_that_finds_none_of_three_studies_mails_the_admin_once_over_two_runs(
    engine: Engine, fake: FakeCtgov, smtp: SmtpServer
) -> None:
    """3 matches, then two full runs seeing 0: one alert mail, not one per run or check."""
    _init(engine)
    assert _sync(engine, fake, T0).seen == 3
    assert _check(engine, T0).started == []
    _drop_all(fake)

    first = T0 + timedelta(hours=1)
    assert _sync(engine, fake, first, full=True).seen == 0
    result = _check(engine, first)
    assert (result.started, result.queued) == (["matches_dropped:mmn"], 1)
    second = T0 + timedelta(hours=2)
    assert _sync(engine, fake, second, full=True).seen == 0
    again = _check(engine, second)
    assert (again.started, again.cleared, again.queued) == ([], [], 0)
    assert again.active == ["matches_dropped:mmn"]
    _deliver(engine, smtp, second)

    [mail] = _mails(smtp)
    assert mail["To"] == ADMIN
    assert mail["Subject"] == "TrialWatch alert: matches of watchlist mmn dropped"
    assert mail["List-Unsubscribe"] is None
    assert mail["Auto-Submitted"] == "auto-generated"
    assert "saw 0 studies" in _text(mail)
    assert "saw 3" in _text(mail)
    assert "saw 0 studies" in _html(mail)
    with session_scope(make_sessionmaker(engine)) as session:
        row = session.scalars(select(Digest)).one()
        assert (row.kind, row.subscriber_id, row.status) == ("alert", None, "sent")


def test_an_alert_to_an_admin_address_the_server_rejects_is_marked_failed_not_stuck(
    engine: Engine, fake: FakeCtgov, smtp: SmtpServer
) -> None:
    """A 550 for the admin: the alert row fails (no subscriber to bounce), delivery goes on."""
    _init(engine)
    _sync(engine, fake, T0)
    _drop_all(fake)
    at = T0 + timedelta(hours=1)
    _sync(engine, fake, at, full=True)
    assert _check(engine, at).queued == 1
    smtp.reject_recipient(ADMIN)
    _deliver(engine, smtp, at)
    with session_scope(make_sessionmaker(engine)) as session:
        row = session.scalars(select(Digest)).one()
        assert (row.kind, row.status, row.attempts) == ("alert", "failed", 1)
        assert "550" in (row.last_error or "")


def test_matches_coming_back_send_one_recovery_mail(
    engine: Engine, fake: FakeCtgov, smtp: SmtpServer
) -> None:
    """After the drop alert, a full sync that finds the studies again mails 'resolved' once."""
    _init(engine)
    _sync(engine, fake, T0)
    records = _drop_all(fake)
    _sync(engine, fake, T0 + timedelta(hours=1), full=True)
    _check(engine, T0 + timedelta(hours=1))
    for record in records.values():
        fake.put(record)

    back = T0 + timedelta(hours=2)
    assert _sync(engine, fake, back, full=True).seen == 3
    result = _check(engine, back)
    assert (result.cleared, result.queued, result.active) == (["matches_dropped:mmn"], 1, [])
    assert _check(engine, back + timedelta(minutes=10)).queued == 0
    _deliver(engine, smtp, back)

    alert, recovery = _mails(smtp)
    assert alert["Subject"] == "TrialWatch alert: matches of watchlist mmn dropped"
    assert recovery["Subject"] == "TrialWatch resolved: matches of watchlist mmn dropped"
    assert "saw 3 studies" in _text(recovery)
    row = _alerts(engine)["matches_dropped:mmn"]
    assert (row.active, row.cleared_at) == (False, back)


def test_a_fall_of_at_most_half_is_not_an_alert(engine: Engine, fake: FakeCtgov) -> None:
    """3 -> 2 matches in one run is news for subscribers, not a health problem; 3 -> 1 is."""
    _init(engine)
    _sync(engine, fake, T0)
    first = fake.get(MMN_IDS[0])
    fake.remove(MMN_IDS[0])
    _sync(engine, fake, T0 + timedelta(hours=1), full=True)
    assert _check(engine, T0 + timedelta(hours=1)).active == []
    fake.put(first)
    assert _sync(engine, fake, T0 + timedelta(hours=2), full=True).seen == 3
    fake.remove(MMN_IDS[0])
    fake.remove(MMN_IDS[1])
    _sync(engine, fake, T0 + timedelta(hours=3), full=True)
    assert _check(engine, T0 + timedelta(hours=3)).active == ["matches_dropped:mmn"]


def test_an_incremental_run_that_sees_nothing_new_is_not_a_drop(
    engine: Engine, fake: FakeCtgov
) -> None:
    """Incremental runs see only updated studies: only full runs are compared."""
    _init(engine)
    _sync(engine, fake, T0)
    later = T0 + timedelta(hours=1)
    assert _sync(engine, fake, later).mode == "incremental"
    assert _check(engine, later).active == []


def test_a_drop_after_the_watchlist_was_edited_is_not_an_alert(
    engine: Engine, fake: FakeCtgov
) -> None:
    """Runs before the watchlist's last edit are no reference: narrowed criteria find fewer."""
    _init(engine)
    _sync(engine, fake, T0)
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_store.get_watchlist(session, "mmn").updated_at = T0 + timedelta(minutes=30)
    _drop_all(fake)
    _sync(engine, fake, T0 + timedelta(hours=1), full=True)
    assert _check(engine, T0 + timedelta(hours=1)).active == []


# --- a watchlist that stopped syncing ----------------------------------------------------------


def test_a_stale_watchlist_alerts_once_and_clears_after_the_next_successful_sync(
    engine: Engine, fake: FakeCtgov, smtp: SmtpServer
) -> None:
    """No success for 48 h: one alert however many checks; a later success: one 'resolved'."""
    _init(engine)
    _sync(engine, fake, T0)
    assert _check(engine, T0 + timedelta(hours=47)).active == []
    results = [_check(engine, T0 + timedelta(hours=h)) for h in (49, 50, 70)]
    assert [r.started for r in results] == [["stale:mmn"], [], []]
    assert [r.queued for r in results] == [1, 0, 0]
    _deliver(engine, smtp, T0 + timedelta(hours=70))
    [alert] = _mails(smtp)
    assert alert["Subject"] == "TrialWatch alert: no recent sync of watchlist mmn"
    assert "no successful sync" in _text(alert).lower()

    synced = T0 + timedelta(hours=71)
    _sync(engine, fake, synced)
    assert _check(engine, synced).cleared == ["stale:mmn"]
    _deliver(engine, smtp, synced)
    assert [m["Subject"] for m in _mails(smtp)][1:] == [
        "TrialWatch resolved: no recent sync of watchlist mmn"
    ]


def test_a_watchlist_never_synced_is_stale_from_its_creation(engine: Engine) -> None:
    """With no successful run, the watchlist's creation time is the last success."""
    _init(engine)
    assert _check(engine, T0 + timedelta(hours=47)).active == []
    assert _check(engine, T0 + timedelta(hours=49)).active == ["stale:mmn"]


def test_failed_runs_do_not_count_as_a_successful_sync(engine: Engine, fake: FakeCtgov) -> None:
    """A watchlist whose syncs keep failing goes stale."""
    _init(engine)
    _sync(engine, fake, T0)
    with session_scope(make_sessionmaker(engine)) as session:
        wl = watchlist_store.get_watchlist(session, "mmn")
        session.add(
            SyncRun(
                watchlist_id=wl.id,
                mode="incremental",
                status="failed",
                started_at=T0 + timedelta(hours=48),
                finished_at=T0 + timedelta(hours=48),
                api_url="x",
                error="boom",
            )
        )
    assert _check(engine, T0 + timedelta(hours=49)).active == ["stale:mmn"]


def test_disabling_a_stale_watchlist_clears_its_alert_once(engine: Engine) -> None:
    """A disabled watchlist is not expected to sync: its active alert clears, mailed once."""
    _init(engine)
    assert _check(engine, T0 + timedelta(hours=49)).started == ["stale:mmn"]
    with session_scope(make_sessionmaker(engine)) as session:
        watchlist_store.get_watchlist(session, "mmn").enabled = False
    result = _check(engine, T0 + timedelta(hours=50))
    assert (result.cleared, result.queued, result.active) == (["stale:mmn"], 1, [])
    assert _check(engine, T0 + timedelta(hours=51)).queued == 0
    assert "disabled" in _alerts(engine)["stale:mmn"].detail


# --- records the sync could not store, or did not know -----------------------------------------


def test_a_sync_that_skips_records_alerts_with_the_reason_escaped(
    engine: Engine, fake: FakeCtgov, smtp: SmtpServer
) -> None:
    """Skipped records alert once, naming the first reason; registry text is escaped in HTML."""
    _init(engine)
    broken = {"protocolSection": {"identificationModule": {"nctId": "<b>NCT1</b>"}}}
    fake.append_to_first_page(broken)
    assert _sync(engine, fake, T0).skipped == 1
    result = _check(engine, T0)
    assert result.started == ["skipped:mmn"]
    assert _check(engine, T0 + timedelta(minutes=10)).queued == 0
    _deliver(engine, smtp, T0)

    [mail] = _mails(smtp)
    assert mail["Subject"] == "TrialWatch alert: records skipped by syncs of watchlist mmn"
    text, html = _text(mail), _html(mail)
    assert "page 1, record 4" in text
    assert "<b>NCT1</b>" in text
    assert "&lt;b&gt;NCT1&lt;/b&gt;" in html
    assert "<b>NCT1</b>" not in html


def test_the_skip_alert_clears_when_a_full_sync_skips_nothing(
    engine: Engine, fake: FakeCtgov
) -> None:
    """A later incremental run that happens not to meet the record does not clear it."""
    _init(engine)
    fake.append_to_first_page({"protocolSection": {}})
    _sync(engine, fake, T0)
    assert _check(engine, T0).started == ["skipped:mmn"]
    later = T0 + timedelta(hours=1)
    with session_scope(make_sessionmaker(engine)) as session:
        wl = watchlist_store.get_watchlist(session, "mmn")
        session.add(
            SyncRun(
                watchlist_id=wl.id,
                mode="incremental",
                status="succeeded",
                started_at=later,
                finished_at=later,
                api_url="x",
            )
        )
    assert _check(engine, later).active == ["skipped:mmn"]
    clean = FakeCtgov(load_fixture_records()).start()
    try:
        assert _sync(engine, clean, later, full=True).skipped == 0
    finally:
        clean.stop()
    assert _check(engine, later).cleared == ["skipped:mmn"]


def test_unknown_sections_are_the_top_level_keys_outside_the_study_schema() -> None:
    """The Study schema of API v2 has six top-level keys; anything else is format drift."""
    record = {
        "protocolSection": {},
        "resultsSection": {},
        "annotationSection": {},
        "documentSection": {},
        "derivedSection": {},
        "hasResults": False,
        "aiSection": {},
        "extra": 1,
    }
    assert unknown_sections(record) == {"aiSection", "extra"}
    assert unknown_sections({"protocolSection": {}}) == set()


def test_a_sync_records_unknown_sections_on_its_run_and_alerts(
    engine: Engine, fake: FakeCtgov, smtp: SmtpServer
) -> None:
    """A record with a new top-level section is stored, the run names it, the admin is told."""
    _init(engine)
    record = copy.deepcopy(fake.get(MMN_IDS[0]))
    record["futureSection"] = {"x": 1}
    record["<i>odd</i>\r\nBcc: evil@example.org"] = True
    fake.put(record)
    result = _sync(engine, fake, T0)
    assert (result.status, result.new) == ("succeeded", 3)
    with session_scope(make_sessionmaker(engine)) as session:
        run = session.scalars(select(SyncRun)).one()
        assert run.unknown_sections == ["<i>odd</i>\r\nBcc: evil@example.org", "futureSection"]
    assert _check(engine, T0).started == ["unknown_sections:mmn"]
    _deliver(engine, smtp, T0)

    [mail] = _mails(smtp)
    assert mail["Bcc"] is None
    assert [m.rcpt_tos for m in smtp.messages] == [(ADMIN,)]
    assert mail["Subject"] == "TrialWatch alert: unknown record sections in watchlist mmn"
    assert "futureSection" in _text(mail)
    assert "&lt;i&gt;odd&lt;/i&gt;" in _html(mail)


# --- the outbox --------------------------------------------------------------------------------


def _failed_messages(engine: Engine, count: int, at: datetime, batch: int = 1) -> None:
    with session_scope(make_sessionmaker(engine)) as session:
        outbox.queue(
            session,
            [
                {
                    "subscriber_id": None,
                    "kind": "digest",
                    "message_id": f"<failed.{batch}.{n}@trialwatch.example>",
                    "recipient": f"gone{n}@example.org",
                    "subject": "Digest",
                    "message": "Subject: Digest\r\n\r\nx\r\n",
                    "covered": {},
                    "next_attempt_at": at,
                    "created_at": at,
                }
                for n in range(count)
            ],
        )
        for row in session.scalars(select(Digest)):
            row.status = "failed"
            row.last_error = "550 no such user"


def test_failed_messages_piling_up_alert_once_and_clear_when_retried(
    engine: Engine, smtp: SmtpServer
) -> None:
    """Five failed in 24 h alert (four do not); after `outbox --retry-failed`, it clears."""
    _init(engine)
    _failed_messages(engine, 4, T0)
    assert _check(engine, T0).active == []
    _failed_messages(engine, 1, T0, batch=2)
    assert _check(engine, T0).started == ["outbox_failed"]
    assert _check(engine, T0 + timedelta(hours=1)).queued == 0
    with session_scope(make_sessionmaker(engine)) as session:
        outbox.retry_failed(session, T0 + timedelta(hours=2))
    later = T0 + timedelta(hours=2)
    assert _check(engine, later).cleared == ["outbox_failed"]
    with session_scope(make_sessionmaker(engine)) as session:
        alerts = session.scalars(select(Digest).where(Digest.kind == "alert")).all()
        assert sorted(a.subject for a in alerts) == [
            "TrialWatch alert: outgoing mail failing",
            "TrialWatch resolved: outgoing mail failing",
        ]


def test_failures_older_than_the_window_do_not_count(engine: Engine) -> None:
    """Only messages whose last attempt was in the last 24 hours count."""
    _init(engine)
    _failed_messages(engine, 6, T0)
    assert _check(engine, T0 + timedelta(hours=25)).active == []


# --- recipients and the runner -----------------------------------------------------------------


def test_conditions_are_kept_with_no_admin_addresses_but_nothing_is_mailed(
    engine: Engine,
) -> None:
    """No TRIALWATCH_ADMIN_EMAILS: the alert row is written, no message is queued."""
    _init(engine)
    result = _check(engine, T0 + timedelta(hours=49), admins=())
    assert (result.started, result.queued) == (["stale:mmn"], 0)
    assert _alerts(engine)["stale:mmn"].active
    with session_scope(make_sessionmaker(engine)) as session:
        assert session.scalars(select(Digest)).all() == []


def test_each_admin_gets_one_mail_per_start(engine: Engine) -> None:
    """Two addresses: two rows queued for one start; a malformed address is skipped."""
    _init(engine)
    admins = ("a@trialwatch.example", "not an address", "b@trialwatch.example")
    result = _check(engine, T0 + timedelta(hours=49), admins=admins)
    assert result.queued == 2
    with session_scope(make_sessionmaker(engine)) as session:
        recipients = sorted(session.scalars(select(Digest.recipient)))
    assert recipients == ["a@trialwatch.example", "b@trialwatch.example"]


def test_an_alert_row_changes_state_once_however_many_checkers_try(engine: Engine) -> None:
    """Opening and clearing are compare-and-set: only the first caller gets True."""
    _init(engine)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:
        wl = watchlist_store.get_watchlist(session, "mmn")
        assert health_store.open_alert(
            session, "stale:mmn", kind="stale", watchlist_id=wl.id, detail="d", now=T0
        )
    with session_scope(factory) as session:
        assert not health_store.open_alert(
            session, "stale:mmn", kind="stale", watchlist_id=wl.id, detail="d", now=T0
        )
    with session_scope(factory) as session:
        assert health_store.clear_alert(session, "stale:mmn", detail="ok", now=T0)
    with session_scope(factory) as session:
        assert not health_store.clear_alert(session, "stale:mmn", detail="ok", now=T0)
        assert health_store.open_alert(
            session, "stale:mmn", kind="stale", watchlist_id=wl.id, detail="again", now=T0
        )


def test_jobs_health_uses_the_admin_addresses_and_staleness_of_the_settings(
    engine: Engine, database_url: str
) -> None:
    """Jobs.health() reads TRIALWATCH_ADMIN_EMAILS, TRIALWATCH_STALE_AFTER and the sender."""
    _init(engine)
    settings = Settings(
        database_url=database_url,
        admin_emails=f"{ADMIN}, second@trialwatch.example",
        stale_after=timedelta(hours=2),
        mail_from=SENDER,
    )
    jobs = Jobs(settings, engine, clock=lambda: T0 + timedelta(hours=3))
    result = jobs.health()
    assert (result.started, result.queued) == (["stale:mmn"], 2)
    assert result.to_dict()["active"] == ["stale:mmn"]
