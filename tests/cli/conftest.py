"""Fixtures of the command-line tests: a fake API, a migrated database, helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import ROOT


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The shipped config, run from an empty folder; no database is set up."""
    monkeypatch.setenv("TRIALWATCH_CONFIG", str(ROOT / "config" / "trialwatch.toml"))
    monkeypatch.setenv("TRIALWATCH_LOG_FORMAT", "text")
    monkeypatch.setenv("TRIALWATCH_API_URL", "http://127.0.0.1:9")
    monkeypatch.chdir(tmp_path)
