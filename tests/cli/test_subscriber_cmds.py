"""Subscriber commands: add, list, remove, import (bad rows reported by line), outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests.support.cli import ROOT, run_cli
from trialwatch.jobs.delivery import send_digests_once
from trialwatch.mail.transport import FileTransport
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Digest, Subscription

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRIALWATCH_CONFIG", str(ROOT / "config" / "trialwatch.toml"))
    monkeypatch.setenv("TRIALWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("TRIALWATCH_LOG_FORMAT", "text")
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "init")[0] == 0


@pytest.mark.usefixtures("cli")
def test_add_list_and_remove_a_subscriber(capsys: pytest.CaptureFixture[str]) -> None:
    """Preferences are stored as given; removing the last subscription unsubscribes."""
    code, _, err = run_cli(
        capsys,
        "subscriber", "add", "Ana@Example.org", "-w", "mmn", "--frequency", "weekly",
        "--significance", "minor", "--country", "Netherlands", "--kind", "new_study",
        "--name", "Ana", "--timezone", "Europe/Amsterdam",
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = run_cli(capsys, "subscriber", "list", "--json")
    [row] = json.loads(out)
    assert row["email"] == "ana@example.org"
    assert row["status"] == "active"
    assert row["subscriptions"][0] | {"cursor": 0, "last_digest_at": None} == {
        "watchlist": "mmn",
        "frequency": "weekly",
        "significance": "minor",
        "countries": ["Netherlands"],
        "kinds": ["new_study"],
        "near": None,
        "cursor": 0,
        "last_digest_at": None,
    }
    code, out, _ = run_cli(capsys, "subscriber", "remove", "ana@example.org")
    assert code == 0
    code, out, _ = run_cli(capsys, "subscriber", "list", "--json")
    assert json.loads(out)[0]["status"] == "unsubscribed"
    code, _, _ = run_cli(capsys, "subscriber", "remove", "ana@example.org", "--purge")
    assert code == 0
    assert json.loads(run_cli(capsys, "subscriber", "list", "--json")[1]) == []


@pytest.mark.usefixtures("cli")
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["not-an-email", "-w", "mmn"], "email: 'not-an-email' is not a valid address"),
        (["a@example.org", "-w", "nope"], "unknown watchlist 'nope'"),
        (["a@example.org", "-w", "mmn", "--frequency", "hourly"], "frequency: 'hourly'"),
        (["a@example.org", "-w", "mmn", "--significance", "noise"], "significance: 'noise'"),
        (["a@example.org", "-w", "mmn", "--timezone", "Mars/Olympus"], "timezone: 'Mars/Olympus'"),
    ],
)
def test_bad_subscriber_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    """Each bad value is named in one line; nothing is stored."""
    code, _, err = run_cli(capsys, "subscriber", "add", *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert fragment in err
    assert json.loads(run_cli(capsys, "subscriber", "list", "--json")[1]) == []


@pytest.mark.usefixtures("cli")
def test_import_takes_the_good_rows_and_reports_the_bad_by_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Bad rows are reported with their line numbers; the good ones are imported."""
    path = tmp_path / "subscribers.csv"
    path.write_text(
        "email,name,watchlists,frequency,significance,countries\n"
        "ana@example.org,Ana,mmn,daily,major,Netherlands;Belgium\n"
        "broken-address,Bob,mmn,daily,major,\n"
        "cy@example.org,Cy,unknown-list,daily,major,\n"
        "dee@example.org,Dee,mmn,fortnightly,major,\n"
        '"eve@example.org","Eve, with a comma",mmn,immediate,minor,\n'
    )
    code, out, _ = run_cli(capsys, "subscriber", "import", str(path), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["imported"] == 2
    assert [(e["line"], e["error"].split(":")[0]) for e in report["errors"]] == [
        (3, "email"),
        (4, "unknown watchlist 'unknown-list' (known"),
        (5, "frequency"),
    ]
    code, out, _ = run_cli(capsys, "subscriber", "list", "--json")
    rows = {r["email"]: r for r in json.loads(out)}
    assert set(rows) == {"ana@example.org", "eve@example.org"}
    assert rows["ana@example.org"]["subscriptions"][0]["countries"] == ["Netherlands", "Belgium"]
    assert rows["eve@example.org"]["name"] == "Eve, with a comma"


@pytest.mark.usefixtures("cli")
def test_import_rejects_a_file_without_the_required_columns(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A CSV without email/watchlists columns is one line naming the file."""
    path = tmp_path / "people.csv"
    path.write_text("address,list\nana@example.org,mmn\n")
    code, _, err = run_cli(capsys, "subscriber", "import", str(path))
    assert code == 2
    assert f"{path}: line 1: missing column(s) email, watchlists" in err


def _queue_one(engine: Engine, **values: object) -> int:
    with session_scope(make_sessionmaker(engine)) as session:
        from trialwatch.store import subscribers as subscriber_store
        from trialwatch.store.subscribers import SubscriptionRequest

        subscriber = subscriber_store.subscribe(
            session, SubscriptionRequest(email="ana@example.org", watchlists=("mmn",)), T0
        )
        message = (
            "From: a@example.org\r\nTo: ana@example.org\r\nSubject: hi\r\n"
            "Message-ID: <digest.1@example.org>\r\n\r\nbody\r\n"
        )
        values.setdefault("status", "queued")
        row = Digest(
            subscriber_id=subscriber.id,
            message_id="<digest.1@example.org>",
            recipient=subscriber.email,
            subject="hi",
            message=message,
            covered={},
            next_attempt_at=T0,
            created_at=T0,
            attempts=0,
            **values,
        )
        session.add(row)
        session.flush()
        return row.id


@pytest.mark.usefixtures("cli")
def test_a_crashed_sender_is_retried_after_the_lease_with_the_same_message_id(
    engine: Engine, tmp_path: Path
) -> None:
    """A row left 'sending' is sent again only after the lease, as the same message.

    The claim's age is the database's (this host's clock on SQLite), not the sender's.
    """
    claimed = datetime.now(UTC) - timedelta(minutes=5)
    digest_id = _queue_one(engine, status="sending", claimed_at=claimed)
    transport = FileTransport(tmp_path / "mail")
    # A sender whose own clock is 20 minutes ahead does not take a 5-minute-old claim.
    ahead = datetime.now(UTC) + timedelta(minutes=20)
    early = send_digests_once(engine, transport, sender="a@example.org", now=lambda: ahead)
    assert (early.sent, early.released) == (0, 0)
    with session_scope(make_sessionmaker(engine)) as session:
        session.get_one(Digest, digest_id).claimed_at = claimed - timedelta(minutes=15)
    result = send_digests_once(engine, transport, sender="a@example.org", now=lambda: ahead)
    assert (result.sent, result.released) == (1, 1)
    [written] = list((tmp_path / "mail").glob("*.eml"))
    assert b"Message-ID: <digest.1@example.org>" in written.read_bytes()
    with session_scope(make_sessionmaker(engine)) as session:
        assert session.get_one(Digest, digest_id).status == "sent"


@pytest.mark.usefixtures("cli")
def test_outbox_purges_sent_messages_older_than_asked(
    capsys: pytest.CaptureFixture[str], engine: Engine
) -> None:
    """--purge-sent-before deletes old sent copies and keeps recent and unsent ones."""
    _queue_one(engine, status="sent", sent_at=T0 - timedelta(days=100))
    code, out, _ = run_cli(capsys, "outbox", "--purge-sent-before", "30d", "--json")
    assert code == 0
    assert json.loads(out)["purged"] == 1
    assert json.loads(out)["counts"] == {}
    code, _, err = run_cli(capsys, "outbox", "--purge-sent-before", "soon")
    assert code == 2
    assert "--purge-sent-before: 'soon' is neither a date" in err


@pytest.mark.usefixtures("cli")
def test_outbox_retry_failed_queues_failed_messages_again(
    capsys: pytest.CaptureFixture[str], engine: Engine
) -> None:
    """--retry-failed puts failed rows back in the queue with their attempts reset."""
    _queue_one(engine, status="failed", last_error="SMTP 550")
    _, out, _ = run_cli(capsys, "outbox", "--json")
    assert json.loads(out)["counts"] == {"failed": 1}
    _, out, _ = run_cli(capsys, "outbox", "--retry-failed", "--json")
    report = json.loads(out)
    assert report["requeued"] == 1
    assert report["counts"] == {"queued": 1}
    with session_scope(make_sessionmaker(engine)) as session:
        row = session.scalars(select(Digest)).one()
        assert (row.attempts, row.last_error) == (0, None)
        assert session.scalars(select(Subscription)).one().cursor == 0
