"""Fixtures of the command-line tests: a fake API, a migrated database, helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import ROOT
from tests.support.fakeapi import FakeCtgov, load_fixture_records


@pytest.fixture
def fake() -> Iterator[FakeCtgov]:
    with FakeCtgov(load_fixture_records()) as server:
        yield server


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The shipped config, run from an empty folder; no database is set up."""
    monkeypatch.setenv("TRIALWATCH_CONFIG", str(ROOT / "config" / "trialwatch.toml"))
    monkeypatch.setenv("TRIALWATCH_LOG_FORMAT", "text")
    monkeypatch.setenv("TRIALWATCH_API_URL", "http://127.0.0.1:9")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, database_url: str, fake: FakeCtgov, tmp_path: Path
) -> dict[str, str]:
    """Environment for in-process CLI runs against the fake server and the test database."""
    env = {
        "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
        "TRIALWATCH_DATABASE_URL": database_url,
        "TRIALWATCH_API_URL": fake.base_url,
        "TRIALWATCH_REQUESTS_PER_MINUTE": "0",
        "TRIALWATCH_LOG_FORMAT": "text",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return env
