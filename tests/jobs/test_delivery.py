"""Delivering the outbox against a real SMTP server: claims, faults, and the CLI summary."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from tests.support.cli import ROOT, run_cli
from tests.support.smtpserver import SmtpServer, make_certificates
from trialwatch.jobs.delivery import SendResult, send_digests_once
from trialwatch.mail.transport import SmtpTransport
from trialwatch.store import outbox
from trialwatch.store.db import make_engine, make_sessionmaker, session_scope
from trialwatch.store.models import Digest, Subscriber

SENDER = "TrialWatch <digests@trialwatch.example>"
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _message(recipient: str, number: int) -> str:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = recipient
    message["Subject"] = f"Digest {number}"
    message["Message-ID"] = f"<digest.{number}@trialwatch.example>"
    message.set_content(f"Digest number {number}.\n")
    return message.as_string()


def _queue(engine: Engine, recipients: list[str], now: datetime = T0) -> list[int]:
    """Queue one message per address, due at ``now``, in this order; return their ids."""
    with session_scope(make_sessionmaker(engine)) as session:
        subscribers = [
            Subscriber(email=address, status="active", created_at=now) for address in recipients
        ]
        session.add_all(subscribers)
        session.flush()
        outbox.queue(
            session,
            [
                {
                    "subscriber_id": subscriber.id,
                    "message_id": f"<digest.{number}@trialwatch.example>",
                    "recipient": subscriber.email,
                    "subject": f"Digest {number}",
                    "message": _message(subscriber.email, number),
                    "covered": {},
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for number, subscriber in enumerate(subscribers, start=1)
            ],
        )
    with session_scope(make_sessionmaker(engine)) as session:
        return list(session.scalars(select(Digest.id).order_by(Digest.id)))


def _rows(engine: Engine) -> dict[str, Digest]:
    with session_scope(make_sessionmaker(engine)) as session:
        return {d.recipient: d for d in session.scalars(select(Digest))}


def _send(engine: Engine, url: str, now: datetime, max_attempts: int = 8) -> SendResult:
    return send_digests_once(
        engine,
        SmtpTransport.from_url(url),
        sender=SENDER,
        now=lambda: now,
        max_attempts=max_attempts,
    )


# --- a connection dropped during one message ---------------------------------------------------


def test_a_message_the_server_hangs_up_on_is_retried_alone_while_the_others_go_out(
    engine: Engine, smtp: SmtpServer
) -> None:
    """A hang-up after the data counts against that message only; the sender reconnects.

    The data was sent and never acknowledged, so it may have arrived: it is tried once
    more after the backoff, then recorded as sent, unconfirmed (never failed).
    """
    _queue(engine, ["flaky@example.org", "ana@example.org", "ben@example.org"])
    smtp.drop_data_for("flaky@example.org")

    first = _send(engine, smtp.url, T0, max_attempts=3)
    assert (first.sent, first.retried, first.failed) == (2, 1, 0)
    assert first.error is None
    assert smtp.connections == 2  # reconnected after the drop
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["ana@example.org", "ben@example.org"]
    rows = _rows(engine)
    flaky = rows["flaky@example.org"]
    assert (flaky.status, flaky.attempts, flaky.uncertain) == ("queued", 1, 1)
    assert flaky.next_attempt_at.replace(tzinfo=UTC) > T0
    assert flaky.last_error is not None
    assert "flaky@example.org" in flaky.last_error
    for address in ("ana@example.org", "ben@example.org"):
        assert (rows[address].status, rows[address].last_error) == ("sent", None)

    results = [_send(engine, smtp.url, T0 + timedelta(hours=7 * n), max_attempts=3) for n in (1, 2)]
    assert [(r.retried, r.failed, r.unconfirmed) for r in results] == [(0, 0, 1), (0, 0, 0)]
    flaky = _rows(engine)["flaky@example.org"]
    assert (flaky.status, flaky.attempts, flaky.uncertain) == ("unconfirmed", 2, 2)
    assert len(smtp.messages) == 2
    # Done with: later runs have nothing left to try.
    assert _send(engine, smtp.url, T0 + timedelta(days=1), max_attempts=3).to_dict()["sent"] == 0


def test_one_message_the_server_hangs_up_on_does_not_block_six_runs(
    engine: Engine, smtp: SmtpServer
) -> None:
    """Over six runs the two good messages are delivered once; the bad one is tried twice."""
    _queue(engine, ["flaky@example.org", "ana@example.org", "ben@example.org"])
    smtp.drop_data_for("flaky@example.org")
    for run in range(6):
        _send(engine, smtp.url, T0 + timedelta(hours=7 * run), max_attempts=3)
    assert {a: (d.status, d.attempts) for a, d in _rows(engine).items()} == {
        "flaky@example.org": ("unconfirmed", 2),
        "ana@example.org": ("sent", 1),
        "ben@example.org": ("sent", 1),
    }
    assert len(smtp.messages) == 2


def test_a_lost_acknowledgment_gives_at_most_a_second_copy_with_the_same_message_id(
    engine: Engine, smtp: SmtpServer
) -> None:
    """Accepted, then the reply is lost: the retry is the same message, and the last copy."""
    _queue(engine, ["ana@example.org", "ben@example.org"])
    smtp.lose_next_acknowledgment()
    first = _send(engine, smtp.url, T0)
    assert (first.sent, first.retried) == (1, 1)
    second = _send(engine, smtp.url, T0 + timedelta(hours=1))
    assert (second.sent, second.retried) == (1, 0)
    assert _send(engine, smtp.url, T0 + timedelta(days=1)).sent == 0
    ids = [m.message["Message-ID"] for m in smtp.messages]
    assert sorted(ids) == sorted(
        ["<digest.1@trialwatch.example>"] * 2 + ["<digest.2@trialwatch.example>"]
    )
    assert {(d.status, d.attempts) for d in _rows(engine).values()} == {("sent", 2), ("sent", 1)}


def test_a_server_that_refuses_connections_leaves_everything_queued_uncounted(
    engine: Engine,
) -> None:
    """Connection refused: nothing is counted or moved, and the error is reported."""
    _queue(engine, ["ana@example.org", "ben@example.org"])
    server = SmtpServer()
    server.start()
    url = server.url
    server.stop()
    result = _send(engine, url, T0)
    assert (result.sent, result.retried, result.failed) == (0, 0, 0)
    assert result.error is not None
    assert "cannot connect" in result.error
    for row in _rows(engine).values():
        assert (row.status, row.attempts) == ("queued", 0)
        assert row.next_attempt_at.replace(tzinfo=UTC) == T0


def test_a_server_that_goes_down_after_a_drop_leaves_the_rest_uncounted(
    engine: Engine, smtp: SmtpServer
) -> None:
    """After a drop the reconnect is refused: the dropped message counts, the rest do not."""
    _queue(engine, ["flaky@example.org", "ana@example.org"])
    smtp.drop_data_for("flaky@example.org", then_stop_listening=True)
    result = _send(engine, smtp.url, T0)
    assert (result.sent, result.retried) == (0, 1)
    assert result.error is not None
    assert "cannot connect" in result.error
    rows = _rows(engine)
    assert (rows["flaky@example.org"].status, rows["flaky@example.org"].attempts) == ("queued", 1)
    assert (rows["ana@example.org"].status, rows["ana@example.org"].attempts) == ("queued", 0)
    assert rows["ana@example.org"].next_attempt_at.replace(tzinfo=UTC) == T0


# --- claims ------------------------------------------------------------------------------------


def _sending(engine: Engine) -> int:
    with session_scope(make_sessionmaker(engine)) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Digest).where(Digest.status == "sending")
            )
            or 0
        )


def test_a_claim_takes_exactly_the_batch(engine: Engine) -> None:
    """claim(limit=50) with 200 due takes 50 rows, the oldest first, and leaves 150 queued."""
    ids = _queue(engine, [f"reader{i}@example.org" for i in range(200)])
    with session_scope(make_sessionmaker(engine)) as session:
        claimed = outbox.claim(session, T0, 50)
    assert [row.id for row in claimed] == ids[:50]
    assert _sending(engine) == 50
    with session_scope(make_sessionmaker(engine)) as session:
        assert len(outbox.claim(session, T0, 500)) == 150
    assert _sending(engine) == 200


def test_claims_in_open_transactions_skip_each_others_rows(database_url: str) -> None:
    """Two PostgreSQL transactions claiming at once get disjoint batches of the asked size."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers: a second claimer waits for the first")
    engine = make_engine(database_url)
    try:
        _queue(engine, [f"reader{i}@example.org" for i in range(20)])
        first = make_sessionmaker(engine)()
        second = make_sessionmaker(engine)()
        try:
            second.execute(text("SET lock_timeout = '5s'"))
            mine = {row.id for row in outbox.claim(first, T0, 8)}  # not committed yet
            theirs = {row.id for row in outbox.claim(second, T0, 8)}
            first.commit()
            second.commit()
        finally:
            first.close()
            second.close()
        assert (len(mine), len(theirs)) == (8, 8)
        assert not mine & theirs
        with session_scope(make_sessionmaker(engine)) as session:
            rest = {row.id for row in outbox.claim(session, T0, 50)}
        assert len(mine | theirs | rest) == 20
        assert len(rest) == 4
    finally:
        engine.dispose()


def test_two_concurrent_claimers_never_take_the_same_row_and_take_all(database_url: str) -> None:
    """Two connections claiming in a loop share out every row, none twice."""
    engines = [make_engine(database_url) for _ in range(2)]
    try:
        ids = set(_queue(engines[0], [f"reader{i}@example.org" for i in range(120)]))
        taken: list[list[int]] = [[], []]
        errors: list[BaseException] = []
        barrier = threading.Barrier(2)

        def claimer(n: int) -> None:
            try:
                factory = make_sessionmaker(engines[n])
                barrier.wait()
                while True:
                    with session_scope(factory) as session:
                        batch = outbox.claim(session, T0, 7)
                    if not batch:
                        return
                    assert len(batch) <= 7
                    taken[n].extend(row.id for row in batch)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=claimer, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert len(taken[0]) + len(taken[1]) == 120
        assert set(taken[0]) | set(taken[1]) == ids
    finally:
        for engine in engines:
            engine.dispose()


# --- the mail setting and the CLI summary ------------------------------------------------------


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A working folder with the shipped config and no TRIALWATCH_* variable set."""
    for key in list(os.environ):
        if key.startswith("TRIALWATCH_"):
            monkeypatch.delenv(key)
    shutil.copytree(ROOT / "config", tmp_path / "config")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _init_and_queue(capsys: pytest.CaptureFixture[str], folder: Path, count: int) -> None:
    code, _, err = run_cli(capsys, "init")
    assert code == 0, err
    engine = make_engine(f"sqlite:///{folder / 'trialwatch.db'}")
    try:
        _queue(engine, [f"reader{i}@example.org" for i in range(count)], datetime.now(UTC))
    finally:
        engine.dispose()


def test_an_smtp_url_alone_sends_over_smtp(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    install: Path,
    smtp: SmtpServer,
) -> None:
    """With only TRIALWATCH_SMTP_URL set, `outbox --send` mails and says where."""
    monkeypatch.setenv("TRIALWATCH_SMTP_URL", smtp.url)
    _init_and_queue(capsys, install, 3)
    code, out, err = run_cli(capsys, "outbox", "--send")
    assert code == 0, err
    assert f"sent 3 over {smtp.url}" in out
    assert len(smtp.messages) == 3
    assert not (install / "outbox").exists()


def test_outbox_send_with_the_server_down_exits_1_and_leaves_the_queue(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    install: Path,
) -> None:
    """`outbox --send` against a refused connection: one line, exit 1, all still queued."""
    monkeypatch.setenv("TRIALWATCH_SMTP_URL", "smtp://127.0.0.1:1")
    _init_and_queue(capsys, install, 2)
    code, out, err = run_cli(capsys, "outbox", "--send")
    assert code == 1, (out, err)
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: delivery stopped, messages stay queued:")
    assert "queued: 2" in out


def test_digest_send_says_where_it_sent_without_the_password(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    install: Path,
) -> None:
    """`digest --send` over an authenticated SMTP URL names the server, never the password."""
    certificates = make_certificates()
    with SmtpServer(tls=certificates.server_context, auth={"tw": "pa55word"}) as server:
        url = f"smtp://tw:pa55word@127.0.0.1:{server.port}?starttls=1&verify=0"
        monkeypatch.setenv("TRIALWATCH_SMTP_URL", url)
        _init_and_queue(capsys, install, 2)
        code, out, err = run_cli(capsys, "digest", "--send")
        assert code == 0, err
        assert f"sent 2 over smtp://127.0.0.1:{server.port}" in out
        assert "pa55word" not in out + err
        assert [m.authenticated for m in server.messages] == [True, True]


def test_without_an_smtp_url_messages_are_written_to_the_outbox_folder(
    capsys: pytest.CaptureFixture[str], install: Path
) -> None:
    """No SMTP URL: `.eml` files in outbox/, and the summary says so."""
    _init_and_queue(capsys, install, 2)
    code, out, err = run_cli(capsys, "outbox", "--send")
    assert code == 0, err
    assert "wrote 2 files to outbox/" in out
    assert len(list((install / "outbox").glob("*.eml"))) == 2


def test_an_explicit_mail_setting_beats_the_smtp_url(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    install: Path,
    smtp: SmtpServer,
) -> None:
    """TRIALWATCH_MAIL=file:DIR writes files even when an SMTP URL is set."""
    monkeypatch.setenv("TRIALWATCH_SMTP_URL", smtp.url)
    monkeypatch.setenv("TRIALWATCH_MAIL", "file:copies")
    _init_and_queue(capsys, install, 1)
    code, out, err = run_cli(capsys, "outbox", "--send")
    assert code == 0, err
    assert "wrote 1 file to copies/" in out
    assert smtp.messages == []
    assert len(list((install / "copies").glob("*.eml"))) == 1


def test_outbox_retry_failed_reactivates_the_bounced_subscribers_it_requeues(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    install: Path,
    smtp: SmtpServer,
) -> None:
    """A bounce, then `outbox --retry-failed`: the message is queued and its subscriber active."""
    monkeypatch.setenv("TRIALWATCH_SMTP_URL", smtp.url)
    _init_and_queue(capsys, install, 2)
    smtp.reject_recipient("reader1@example.org")
    code, out, err = run_cli(capsys, "outbox", "--send")
    assert code == 0, err
    engine = make_engine(f"sqlite:///{install / 'trialwatch.db'}")
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            statuses = dict(
                session.execute(select(Subscriber.email, Subscriber.status)).tuples().all()
            )
        assert statuses["reader1@example.org"] == "bounced"
        code, out, err = run_cli(capsys, "outbox", "--retry-failed")
        assert code == 0, err
        assert "queued 1 failed message(s) again; reactivated 1 bounced subscriber(s)" in out
        with session_scope(make_sessionmaker(engine)) as session:
            statuses = dict(
                session.execute(select(Subscriber.email, Subscriber.status)).tuples().all()
            )
        assert set(statuses.values()) == {"active"}
    finally:
        engine.dispose()
