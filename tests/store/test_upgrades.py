"""Upgrades keep data: from every revision to head every row survives, on both databases;
a shipped migration is never edited again (its checksum is recorded)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, func, inspect, select, text

from tests.support.cli import ROOT, assert_one_line_error, run_cli, run_ok
from trialwatch.store.db import MIGRATIONS_DIR, current_revision, downgrade, make_engine, upgrade

CHECKSUMS = Path(__file__).parent / "migration_checksums.json"
T = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _revisions() -> list[str]:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    return [r.revision for r in reversed(list(script.walk_revisions()))]


REVISIONS = _revisions()

# One row per table, the foreign keys linking them, with every column any revision
# has (columns a revision lacks are left out when the row is written at that revision).
ROWS: dict[str, dict[str, Any]] = {
    "watchlist": {
        "id": 7,
        "slug": "mmn",
        "name": "MMN",
        "description": "",
        "criteria": {"conditions": ["MMN"]},
        "schedule": "0 6 * * *",
        "enabled": True,
        "source": "config/watchlists/mmn.toml",
        "sync_cursor": date(2026, 11, 28),
        "created_at": T,
        "updated_at": T,
    },
    "study": {
        "id": 11,
        "nct_id": "NCT05225675",
        "registry": "ctgov",
        "registry_id": "NCT05225675",
        "current_version": 1,
        "current_hash": "h1",
        "brief_title": "ARGX-117 in MMN",
        "phases": "PHASE2",
        "has_results": False,
        "first_seen_at": T,
        "updated_at": T,
    },
    "sync_run": {
        "id": 13,
        "watchlist_id": 7,
        "mode": "full",
        "status": "succeeded",
        "started_at": T,
        "api_url": "https://clinicaltrials.gov/api/v2",
        "pages": 1,
        "requests": 1,
        "seen": 1,
        "new": 1,
        "updated": 0,
        "unchanged": 0,
        "left": 0,
    },
    "study_version": {
        "id": 17,
        "study_id": 11,
        "version": 1,
        "content_hash": "h1",
        "record": "{}",
        "fetched_at": T,
        "sync_run_id": 13,
    },
    "watchlist_study": {
        "watchlist_id": 7,
        "study_id": 11,
        "first_matched_at": T,
        "last_matched_at": T,
        "last_run_id": 13,
    },
    "change": {
        "id": 19,
        "study_id": 11,
        "version_id": 17,
        "watchlist_id": 7,
        "sync_run_id": 13,
        "kind": "new_study",
        "field": "",
        "summary": "New trial",
        "significance": "major",
        "countries": ["Netherlands"],
        "detected_at": T,
    },
    "subscriber": {
        "id": 23,
        "email": "ana@example.org",
        "token": "tok-ana",
        "status": "active",
        "timezone": "UTC",
        "created_at": T,
    },
    "subscription": {
        "id": 29,
        "subscriber_id": 23,
        "watchlist_id": 7,
        "frequency": "daily",
        "min_significance": "major",
        "countries": [],
        "event_kinds": [],
        "cursor": 19,
        "created_at": T,
    },
    "digest": {
        "id": 31,
        "subscriber_id": 23,
        "kind": "digest",
        "status": "queued",
        "message_id": "<d31@trialwatch>",
        "recipient": "ana@example.org",
        "subject": "1 new trial",
        "message": "Subject: 1 new trial\r\n\r\nbody\r\n",
        "covered": {"mmn": [19, 19]},
        "study_count": 1,
        "change_count": 1,
        "attempts": 0,
        "next_attempt_at": T,
        "created_at": T,
    },
    "lease": {"name": "scheduler", "owner": "host:1:0", "acquired_at": T, "expires_at": T},
    "health_alert": {
        "key": "stale:mmn",
        "kind": "stale",
        "watchlist_id": 7,
        "active": True,
        "detail": "no sync for 48h",
        "started_at": T,
    },
    "confirmation_request": {
        "id": 37,
        "subscriber_id": 23,
        "nonce": "nonce-37",
        "choices": {"watchlists": ["mmn"]},
        "created_at": T,
    },
    "rate_limit": {"key": "subscribe:127.0.0.1", "window_start": T, "hits": 2},
    "study_link": {
        "id": 43,
        "study_id": 11,
        "registry": "eudract",
        "registry_id": "2021-000001-11",
        "version_id": 17,
        "asserted_at": T,
    },
    "web_session": {"id": "sid-41", "csrf": "csrf-41", "created_at": T, "expires_at": T},
}


def _fill(engine: Engine) -> dict[str, dict[str, Any]]:
    """Write ROWS into every table the database has now; return what was written."""
    metadata = MetaData()
    metadata.reflect(engine)
    written: dict[str, dict[str, Any]] = {}
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if table.name == "alembic_version":
                continue
            assert table.name in ROWS, f"add a sample row of {table.name} to ROWS"
            row = {k: v for k, v in ROWS[table.name].items() if k in table.c}
            conn.execute(table.insert().values(row))
            written[table.name] = row
    return written


def _check_kept(engine: Engine, written: dict[str, dict[str, Any]]) -> None:
    """Each table still has its one row, with the values written (plain columns)."""
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as conn:
        for name, row in written.items():
            table = metadata.tables[name]
            assert conn.execute(select(func.count()).select_from(table)).scalar() == 1, name
            plain = {k: v for k, v in row.items() if isinstance(v, str | int | float)}
            found = conn.execute(select(*(table.c[k] for k in plain))).one()
            assert dict(zip(plain, found, strict=True)) == plain, name


@pytest.fixture(scope="module")
def sqlite_at(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A SQLite file at each revision (made once, copied by each test)."""
    folder = tmp_path_factory.mktemp("revisions")
    work = folder / "work.db"
    engine = make_engine(f"sqlite:///{work}")
    files: dict[str, Path] = {}
    try:
        for revision in REVISIONS:
            upgrade(engine, revision)
            engine.dispose()
            files[revision] = folder / f"{revision}.db"
            shutil.copy(work, files[revision])
    finally:
        engine.dispose()
    return files


@pytest.fixture
def old_engine(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[Engine]:
    """An empty database at the test's revision (``revision`` parameter)."""
    revision: str = request.param
    if database_url.startswith("sqlite"):
        path = tmp_path / "old.db"
        shutil.copy(request.getfixturevalue("sqlite_at")[revision], path)
        database_url = f"sqlite:///{path}"
    engine = make_engine(database_url)
    if engine.dialect.name == "postgresql":
        downgrade(engine, "base")
        upgrade(engine, revision)
    yield engine
    if engine.dialect.name == "postgresql":  # the session's database: later tests want head
        upgrade(engine)
    engine.dispose()


@pytest.mark.parametrize("old_engine", REVISIONS[:-1], indirect=True)
def test_an_upgrade_to_head_keeps_every_row(old_engine: Engine) -> None:
    """Rows in every table at an old revision are all there after `init` (upgrade to head)."""
    written = _fill(old_engine)
    upgrade(old_engine)
    assert current_revision(old_engine) == REVISIONS[-1]
    _check_kept(old_engine, written)


@pytest.mark.parametrize("old_engine", ["0010"], indirect=True)
def test_0011_names_every_study_by_registry_and_keeps_its_versions(old_engine: Engine) -> None:
    """0011: each stored study becomes (ctgov, its NCT ID); versions, changes, subscribers keep
    their rows and get the defaults (source sync, not historical, locale en)."""
    _fill(old_engine)
    upgrade(old_engine, "0011")
    with old_engine.connect() as conn:
        study = conn.execute(text("SELECT registry, registry_id, nct_id FROM study")).one()
        version = conn.execute(text("SELECT source, registry_version FROM study_version")).one()
        change = conn.execute(text("SELECT message, params, historical FROM change")).one()
        locale = conn.scalar(text("SELECT locale FROM subscriber"))
        registries = conn.scalar(text("SELECT registries FROM watchlist"))
    assert tuple(study) == ("ctgov", "NCT05225675", "NCT05225675")
    assert tuple(version) == ("sync", None)
    assert (change.message, change.params, bool(change.historical)) == (None, None, False)
    assert locale == "en"
    assert json.loads(registries) if isinstance(registries, str) else registries == ["ctgov"]


def _old_sqlite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: Path) -> Engine:
    """A copy of ``source`` that the CLI of this test uses (shipped config otherwise)."""
    path = tmp_path / "old.db"
    shutil.copy(source, path)
    monkeypatch.setenv("TRIALWATCH_CONFIG", str(ROOT / "config" / "trialwatch.toml"))
    monkeypatch.setenv("TRIALWATCH_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.chdir(tmp_path)
    return make_engine(f"sqlite:///{path}")


def test_init_on_a_database_of_before_0004_keeps_subscriptions_and_the_outbox(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sqlite_at: dict[str, Path],
) -> None:
    """`trialwatch init` on an old SQLite file (the `make run` path) keeps every row."""
    engine = _old_sqlite(monkeypatch, tmp_path, sqlite_at["0003"])
    try:
        written = _fill(engine)
        engine.dispose()
        run_ok(capsys, "init")
        assert current_revision(engine) == REVISIONS[-1]
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            for name in written:
                count = select(func.count()).select_from(metadata.tables[name])
                assert conn.execute(count).scalar() == 1, name
            emails = conn.scalars(
                text("SELECT s.email FROM subscription JOIN subscriber s ON s.id = subscriber_id")
            ).all()
        assert emails == ["ana@example.org"]
    finally:
        engine.dispose()


def test_an_upgrade_that_breaks_a_foreign_key_fails_and_commits_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sqlite_at: dict[str, Path],
) -> None:
    """A row left pointing nowhere after an upgrade: one line naming it; the revision stays."""
    engine = _old_sqlite(monkeypatch, tmp_path, sqlite_at[REVISIONS[-2]])
    try:
        _fill(engine)
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.execute(text("UPDATE subscription SET watchlist_id = 999"))
            conn.commit()
        engine.dispose()
        line = assert_one_line_error(run_cli(capsys, "init"), 1, "foreign key")
        assert "subscription -> watchlist: 1 row)" in line
        assert current_revision(engine) == REVISIONS[-2]
        assert set(inspect(engine).get_table_names()) == tables
    finally:
        engine.dispose()


def test_every_migration_file_is_recorded_and_unchanged() -> None:
    """A shipped migration is never edited: each file's SHA-256 matches the recorded one."""
    recorded: dict[str, str] = json.loads(CHECKSUMS.read_text())
    files = sorted((MIGRATIONS_DIR / "versions").glob("*.py"))
    actual = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    assert sorted(actual) == sorted(recorded), "record each new migration in " + CHECKSUMS.name
    changed = [name for name in actual if actual[name] != recorded[name]]
    assert changed == [], f"shipped migrations edited: {changed}; add a new migration instead"
