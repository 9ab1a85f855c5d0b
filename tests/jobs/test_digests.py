"""End to end: sync -> changes -> digests -> a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.factories import SENDER, T0, build, change_status, prepare_due, send, sync_mmn
from tests.support.cli import ROOT, run_cli
from tests.support.fakeapi import FakeCtgov
from tests.support.smtpserver import SmtpServer
from trialwatch.jobs.delivery import send_digests_once
from trialwatch.mail.transport import SmtpTransport
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Digest, Subscription
from trialwatch.store.subscribers import SubscriptionRequest


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def _statuses(engine: Engine) -> dict[str, str]:
    with session_scope(make_sessionmaker(engine)) as session:
        return {d.recipient: d.status for d in session.scalars(select(Digest))}


@pytest.mark.usefixtures("database_url")
def test_digest_send_delivers_one_message_per_subscriber_once(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    fake: FakeCtgov,
    smtp: SmtpServer,
    tmp_path: Path,
) -> None:
    """After a sync with changes, `digest --send` mails each due subscriber once; again: none."""
    for key, value in {
        "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
        "TRIALWATCH_DATABASE_URL": database_url,
        "TRIALWATCH_API_URL": fake.base_url,
        "TRIALWATCH_REQUESTS_PER_MINUTE": "0",
        "TRIALWATCH_MAIL": "smtp",
        "TRIALWATCH_SMTP_URL": smtp.url,
        "TRIALWATCH_MAIL_FROM": SENDER,
        "TRIALWATCH_SECRET_KEY": "s3cret-key-of-at-least-thirty-two-bytes",
        "TRIALWATCH_LOG_FORMAT": "text",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "init")[0] == 0
    assert run_cli(capsys, "sync", "mmn")[0] == 0
    for email in ("ana@example.org", "ben@example.org"):
        code, _, err = run_cli(
            capsys, "subscriber", "add", email, "-w", "mmn", "--frequency", "immediate"
        )
        assert code == 0, err
    code, out, _ = run_cli(capsys, "digest", "--send", "--json")
    assert json.loads(out)["built"]["queued"] == 0  # nothing happened since they subscribed
    change_status(fake, "NCT05225675", "COMPLETED", "2026-11-28")
    assert run_cli(capsys, "sync", "mmn")[0] == 0

    code, out, err = run_cli(capsys, "digest", "--preview", "ana@example.org")
    assert code == 0, err
    assert "Active, not recruiting → Completed" in out
    code, out, err = run_cli(capsys, "digest", "--send", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["built"]["queued"], report["sent"]["sent"]) == (2, 2)
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["ana@example.org", "ben@example.org"]
    assert smtp.connections == 1
    for received in smtp.messages:
        text, html = _bodies(received.message)
        for part in (text, html):
            assert "NCT05225675" in part
            assert "ARDA" in part
            assert "Completed" in part
        assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert received.message["List-Unsubscribe"].startswith(
            "<http://localhost:8000/unsubscribe/"
        )

    code, out, _ = run_cli(capsys, "digest", "--send", "--json")
    again = json.loads(out)
    assert (again["built"]["queued"], again["sent"]["sent"]) == (0, 0)
    assert len(smtp.messages) == 2
    code, out, _ = run_cli(capsys, "outbox", "--json")
    assert json.loads(out)["counts"] == {"sent": 2}


def test_a_refused_connection_leaves_everything_queued_then_sends_once(
    engine: Engine, fake: FakeCtgov, smtp: SmtpServer
) -> None:
    """Server down: digests stay queued, cursors stay; back up: each is sent exactly once."""
    prepare_due(engine, fake, ["ana@example.org", "ben@example.org", "cy@example.org"])
    assert build(engine) == 3
    with session_scope(make_sessionmaker(engine)) as session:
        cursors = sorted(s.cursor for s in session.scalars(select(Subscription)))
    down = send(engine, "smtp://127.0.0.1:1")
    assert down.sent == 0
    assert down.error
    assert set(_statuses(engine).values()) == {"queued"}
    with session_scope(make_sessionmaker(engine)) as session:
        assert sorted(s.cursor for s in session.scalars(select(Subscription))) == cursors
        assert {d.attempts for d in session.scalars(select(Digest))} == {0}
    assert build(engine) == 0  # nothing is queued twice
    up = send(engine, smtp.url)
    assert up.sent == 3
    assert send(engine, smtp.url).sent == 0
    assert len(smtp.messages) == 3
    assert len({m.message["Message-ID"] for m in smtp.messages}) == 3


def test_a_temporary_failure_is_retried_with_backoff_and_delivered_once(
    engine: Engine, fake: FakeCtgov, smtp: SmtpServer
) -> None:
    """451, 451, then 250: one delivery, three attempts, nothing sent before the backoff."""
    prepare_due(engine, fake, ["ana@example.org"])
    build(engine)
    smtp.fail_next_data(451, times=2)
    assert send(engine, smtp.url, T0).retried == 1
    assert send(engine, smtp.url, T0 + timedelta(seconds=10)).sent == 0  # still backing off
    assert send(engine, smtp.url, T0 + timedelta(minutes=5)).retried == 1
    assert send(engine, smtp.url, T0 + timedelta(hours=1)).sent == 1
    assert len(smtp.messages) == 1
    with session_scope(make_sessionmaker(engine)) as session:
        digest = session.scalars(select(Digest)).one()
        assert (digest.status, digest.attempts) == ("sent", 3)


def test_a_rejected_recipient_bounces_and_the_others_are_delivered(
    engine: Engine, fake: FakeCtgov, smtp: SmtpServer
) -> None:
    """A 550 for one address marks it bounced and failed; the rest go out."""
    prepare_due(engine, fake, ["ana@example.org", "gone@example.org", "cy@example.org"])
    build(engine)
    smtp.reject_recipient("gone@example.org")
    result = send(engine, smtp.url)
    assert (result.sent, result.failed, result.bounced) == (2, 1, 1)
    assert _statuses(engine) == {
        "ana@example.org": "sent",
        "gone@example.org": "failed",
        "cy@example.org": "sent",
    }
    with session_scope(make_sessionmaker(engine)) as session:
        gone = subscriber_store.get_subscriber(session, "gone@example.org")
        assert gone.status == "bounced"
    # A bounced subscriber gets no further digests.
    change_status(fake, "NCT05225675", "TERMINATED", "2026-11-29")
    sync_mmn(engine, fake)
    build(engine, T0 + timedelta(minutes=1))
    assert sorted(_statuses(engine)) == ["ana@example.org", "cy@example.org", "gone@example.org"]


def test_two_senders_at_once_deliver_each_digest_once(
    engine: Engine, fake: FakeCtgov, smtp: SmtpServer
) -> None:
    """Two threads sending the same queue never deliver one row twice."""
    prepare_due(engine, fake, [f"reader{i}@example.org" for i in range(40)])
    assert build(engine) == 40
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def sender() -> None:
        barrier.wait()
        transport = SmtpTransport.from_url(smtp.url)
        results.append(
            send_digests_once(engine, transport, sender=SENDER, now=lambda: T0, batch_size=5)
        )

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r.sent for r in results) == 40
    ids = [m.message["Message-ID"] for m in smtp.messages]
    assert len(ids) == 40
    assert len(set(ids)) == 40
    assert set(_statuses(engine).values()) == {"sent"}


def test_hostile_titles_and_names_are_harmless(
    engine: Engine, fake: FakeCtgov, smtp: SmtpServer
) -> None:
    """A <script> title shows as text; a newline in a name cannot add a header."""
    prepare_due(engine, fake, [])
    with session_scope(make_sessionmaker(engine)) as session:
        subscriber_store.subscribe(
            session,
            SubscriptionRequest(
                email="eve@example.org",
                watchlists=("mmn",),
                name="Eve\r\nBcc: victim@example.org",
                frequency="immediate",
                significance="minor",
            ),
            T0,
        )
    change_status(
        fake,
        "NCT06742190",
        "ACTIVE_NOT_RECRUITING",
        "2026-11-29",
        briefTitle="<script>alert(1)</script> EMPASSION",
    )
    sync_mmn(engine, fake)
    assert build(engine) == 1
    assert send(engine, smtp.url).sent == 1
    received = smtp.messages[0]
    assert received.rcpt_tos == ("eve@example.org",)
    assert "Bcc" not in received.message
    assert "\n" not in str(received.message["To"])
    assert "victim" not in "".join(received.message.get_all("Bcc") or [])
    text, html = _bodies(received.message)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<script>alert(1)</script> EMPASSION" in text


def test_filters_and_frequencies_decide_who_gets_what(engine: Engine, fake: FakeCtgov) -> None:
    """A daily subscriber waits for the next day; a country filter skips other countries' sites."""
    prepare_due(engine, fake, [])
    with session_scope(make_sessionmaker(engine)) as session:
        for email, country in (("fr@example.org", "France"), ("de@example.org", "Germany")):
            subscriber_store.subscribe(
                session,
                SubscriptionRequest(
                    email=email, watchlists=("mmn",), frequency="immediate", countries=(country,)
                ),
                T0,
            )
        subscriber_store.subscribe(
            session,
            SubscriptionRequest(email="day@example.org", watchlists=("mmn",), frequency="daily"),
            T0,
        )
        day = subscriber_store.get_subscriber(session, "day@example.org")
        session.scalars(
            select(Subscription).where(Subscription.subscriber_id == day.id)
        ).one().last_digest_at = T0 - timedelta(hours=2)
    record = copy.deepcopy(fake.get("NCT06537999"))
    record["protocolSection"]["contactsLocationsModule"]["locations"].append(
        {"facility": "Charité", "status": "RECRUITING", "city": "Berlin", "country": "Germany"}
    )
    record["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = "2026-11-29"
    fake.put(record)
    sync_mmn(engine, fake)
    assert build(engine, T0) == 1  # only the German reader; the daily one had today's digest
    assert list(_statuses(engine)) == ["de@example.org"]
    assert build(engine, T0 + timedelta(days=1)) == 1
    assert sorted(_statuses(engine)) == ["day@example.org", "de@example.org"]


def test_subscribers_of_another_locale_get_their_own_rendering(
    engine: Engine, fake: FakeCtgov, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same choices, another spoken locale: no shared message; en and en-GB read alike."""
    import shutil

    from tests.factories import MAIL
    from trialwatch import words
    from trialwatch.jobs.digests import build_digests_once
    from trialwatch.mail.templates import make_environment
    from trialwatch.store.models import Subscriber

    monkeypatch.setattr(words, "LOCALES", ("en", "nl"))
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    (folder / "email" / "nl").mkdir()
    (folder / "email" / "nl" / "digest-subject.txt").write_text(
        "Nieuws over {{ digest.study_count }}"
    )
    emails = ["ana@example.org", "ben@example.org", "cy@example.org"]
    prepare_due(engine, fake, emails)
    with session_scope(make_sessionmaker(engine)) as session:
        for email, locale in zip(emails, ["en", "nl", "en-GB"], strict=True):
            session.scalars(
                select(Subscriber).where(Subscriber.email == email)
            ).one().locale = locale

    assert build_digests_once(engine, make_environment(folder), MAIL, now=T0).queued == 3

    with session_scope(make_sessionmaker(engine)) as session:
        rows = session.execute(select(Digest.recipient, Digest.subject)).tuples()
        subjects = {recipient: subject for recipient, subject in rows}
    assert subjects["ben@example.org"] == "Nieuws over 1"
    assert subjects["ana@example.org"] == subjects["cy@example.org"] != subjects["ben@example.org"]
    assert subjects["ana@example.org"].startswith("TrialWatch")
