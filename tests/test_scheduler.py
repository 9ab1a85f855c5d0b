"""The cycle: when a watchlist is due; `run --once` does a full cycle and says how it went."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import ROOT, run_cli
from tests.support.fakeapi import FakeCtgov, load_fixture_records
from trialwatch.jobs.cycle import due_reason
from trialwatch.store.models import Watchlist
from trialwatch.watchlists import Criteria


def test_run_once_syncs_and_mails_new_trials_to_the_outbox_folder(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    tmp_path: Path,
) -> None:
    """A subscriber from before the first sync gets one digest listing the new trials."""
    with FakeCtgov(load_fixture_records()) as fake:
        for key, value in {
            "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
            "TRIALWATCH_DATABASE_URL": database_url,
            "TRIALWATCH_API_URL": fake.base_url,
            "TRIALWATCH_REQUESTS_PER_MINUTE": "0",
            "TRIALWATCH_MAIL": f"file:{tmp_path / 'outbox'}",
            "TRIALWATCH_LOG_FORMAT": "text",
            "TRIALWATCH_STATE_DIR": str(tmp_path),
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        assert run_cli(capsys, "init")[0] == 0
        code, _, err = run_cli(
            capsys, "subscriber", "add", "ana@example.org", "-w", "mmn", "-f", "immediate"
        )
        assert code == 0, err
        code, _, err = run_cli(capsys, "run", "--once")
        assert code == 0, err

    [path] = list((tmp_path / "outbox").glob("*.eml"))
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "ana@example.org"
    assert "3 new trials" in str(message["Subject"])
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = str(body.get_content())
    for nct_id in ("NCT05225675", "NCT06537999", "NCT06742190"):
        assert nct_id in text
    assert (tmp_path / ".trialwatch-secret").is_file()


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CRITERIA = Criteria(conditions=("multifocal motor neuropathy",))


def _watchlist(**overrides: Any) -> Watchlist:
    values: dict[str, Any] = {
        "slug": "mmn",
        "name": "MMN",
        "criteria": CRITERIA.to_dict(),
        "criteria_hash": CRITERIA.criteria_hash(),
        "schedule": "0 6 * * *",
        "enabled": True,
        "last_synced_at": NOW - timedelta(hours=2),
        "data_timestamp": "2026-12-01T09:00:00",
    }
    values.update(overrides)
    return Watchlist(**values)


@pytest.mark.parametrize(
    ("overrides", "timestamp", "reason"),
    [
        ({}, "2026-12-01T09:00:00", None),
        ({}, "2026-12-02T09:00:00", "registry data 2026-12-01T09:00:00 -> 2026-12-02T09:00:00"),
        ({"last_synced_at": None}, "2026-12-01T09:00:00", "never synced"),
        ({"criteria_hash": "old"}, "2026-12-01T09:00:00", "criteria changed"),
        (
            {"last_synced_at": NOW - timedelta(days=1)},
            "2026-12-01T09:00:00",
            "a day since the last sync",
        ),
        (
            {"schedule": "0 11 * * *", "last_synced_at": NOW - timedelta(hours=2)},
            "2026-12-01T09:00:00",
            "schedule 0 11 * * *",
        ),
    ],
    ids=["up-to-date", "published", "never", "criteria", "safety-net", "cron"],
)
def test_a_watchlist_is_due_when_the_registry_published_or_its_criteria_or_clock_say_so(
    overrides: dict[str, Any], timestamp: str, reason: str | None
) -> None:
    """New dataTimestamp, changed criteria, a fired cron or a day: due; otherwise not."""
    assert due_reason(_watchlist(**overrides), timestamp, NOW) == reason


def test_run_once_exits_1_when_a_job_failed(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    tmp_path: Path,
) -> None:
    """With the registry unreachable, `run --once` says so in one line and exits 1 for cron."""
    for key, value in {
        "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
        "TRIALWATCH_DATABASE_URL": database_url,
        "TRIALWATCH_API_URL": "http://127.0.0.1:9/api/v2",
        "TRIALWATCH_MAX_ATTEMPTS": "1",
        "TRIALWATCH_MAIL": f"file:{tmp_path / 'outbox'}",
        "TRIALWATCH_STATE_DIR": str(tmp_path),
        "TRIALWATCH_LOG_FORMAT": "text",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "init")[0] == 0
    code, _, err = run_cli(capsys, "run", "--once")
    assert code == 1
    assert "error: registry: " in err
    assert "Traceback" not in err
