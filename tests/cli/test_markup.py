"""Text from the registry or the database is printed as it is, never read as rich markup."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.cli import ROOT, run_cli, run_ok
from tests.support.fakeapi import FakeCtgov
from trialwatch.store import subscribers as subscriber_store
from trialwatch.store.db import make_sessionmaker, session_scope
from trialwatch.store.models import Digest
from trialwatch.store.subscribers import SubscriptionRequest

EVIL = "[bold red]EVIL[/] [/]"
TITLE = "Outcomes in [patients with] MMN"
NEW_TITLE = "Outcomes in [b]adults[/b] with MMN"
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


@pytest.fixture
def evil_study(
    cli_env: dict[str, str],
    fake: FakeCtgov,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NCT05225675 with markup-like acronym and titles, stored in two versions."""
    folder = tmp_path / "watchlists"
    folder.mkdir()
    text = (ROOT / "config" / "watchlists" / "mmn.toml").read_text(encoding="utf-8")
    text = text.replace('name = "Multifocal motor neuropathy"', 'name = "MMN [red]list[/red] [x]"')
    text = text.replace('description = "Trials', 'description = "[i]All[/i] [trials]: Trials')
    (folder / "mmn.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("TRIALWATCH_WATCHLISTS_DIR", str(folder))
    record = fake.get("NCT05225675")
    ident = record["protocolSection"]["identificationModule"]
    ident["acronym"] = EVIL
    ident["briefTitle"] = TITLE
    fake.put(record)
    assert run_cli(capsys, "init")[0] == 0
    assert run_cli(capsys, "sync", "mmn")[0] == 0
    changed = copy.deepcopy(record)
    changed["protocolSection"]["identificationModule"]["briefTitle"] = NEW_TITLE
    status = changed["protocolSection"]["statusModule"]
    status["lastUpdatePostDateStruct"] = {"date": "2026-11-27", "type": "ACTUAL"}
    fake.put(changed)
    assert run_cli(capsys, "sync", "mmn")[0] == 0


@pytest.mark.usefixtures("evil_study")
def test_changes_prints_markup_like_acronyms_and_titles_literally(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`changes` neither crashes on nor swallows bracketed registry text."""
    out = run_ok(capsys, "changes", "--watchlist", "mmn", "--significance", "all")
    assert EVIL in out
    assert "[b]adults[/b]" in out


@pytest.mark.usefixtures("evil_study")
def test_history_prints_markup_like_acronyms_and_titles_literally(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`history` shows the acronym and the title as stored."""
    out = run_ok(capsys, "history", "NCT05225675")
    assert f"{EVIL} NCT05225675" in out
    assert NEW_TITLE in out


@pytest.mark.usefixtures("evil_study")
def test_diff_prints_markup_like_old_and_new_values_literally(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`diff` shows bracketed old and new values in its tables."""
    out = run_ok(capsys, "diff", "NCT05225675")
    assert "[patients with]" in out
    assert "[b]adults[/b]" in out


@pytest.mark.usefixtures("evil_study")
def test_watchlist_list_and_show_print_names_and_descriptions_literally(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Watchlist names and descriptions with brackets are shown as written."""
    assert "MMN [red]list[/red] [x]" in run_ok(capsys, "watchlist", "list")
    out = run_ok(capsys, "watchlist", "show", "mmn")
    assert "MMN [red]list[/red] [x]" in out
    assert "[i]All[/i] [trials]: Trials" in out


@pytest.mark.usefixtures("evil_study")
def test_subscriber_list_prints_names_literally(capsys: pytest.CaptureFixture[str]) -> None:
    """A subscriber name with brackets is listed as given."""
    run_ok(capsys, "subscriber", "add", "ana@example.org", "-w", "mmn", "--name", "Ana [/] [team]")
    assert "Ana [/] [team]" in run_ok(capsys, "subscriber", "list")


@pytest.mark.usefixtures("evil_study")
def test_outbox_prints_subjects_and_errors_literally(
    capsys: pytest.CaptureFixture[str], engine: Engine
) -> None:
    """Outbox subjects and delivery errors with brackets are listed as stored."""
    with session_scope(make_sessionmaker(engine)) as session:
        subscriber = subscriber_store.subscribe(
            session, SubscriptionRequest(email="ana@example.org", watchlists=("mmn",)), T0
        )
        session.add(
            Digest(
                subscriber_id=subscriber.id,
                message_id="<digest.1@example.org>",
                recipient=subscriber.email,
                subject=f"{EVIL} news",
                message="Subject: x\r\n\r\nbody\r\n",
                covered={},
                status="failed",
                last_error="550 [/] rejected [x]",
                next_attempt_at=T0,
                created_at=T0,
                attempts=1,
            )
        )
    out = run_ok(capsys, "outbox")
    assert f"{EVIL} news" in out
    assert "550 [/] rejected [x]" in out
