"""The scheduler: one cron job per watchlist plus digests; `run --once` does a full cycle."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from tests.support.cli import ROOT, run_cli
from tests.support.fakeapi import FakeCtgov, load_fixture_records
from trialwatch.config import load_settings
from trialwatch.scheduler import build_scheduler
from trialwatch.store.db import make_engine


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

        settings = load_settings()
        engine = make_engine(settings.database_url)
        scheduler, _ = build_scheduler(settings, engine)
        assert sorted(job.id for job in scheduler.get_jobs()) == ["digests", "sync:mmn"]
        engine.dispose()

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
