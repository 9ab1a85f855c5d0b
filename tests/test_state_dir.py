"""Generated state (the secret key) lives in one configured folder, not the working folder."""

from __future__ import annotations

import re
import secrets
import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from tests.factories import change_status
from tests.support.cli import ROOT, run_cli
from tests.support.fakeapi import FakeCtgov
from trialwatch.config import load_settings
from trialwatch.errors import ConfigError
from trialwatch.mail.signing import (
    SECRET_FILE_NAME,
    make_unsubscribe_token,
    resolve_secret,
    unsubscribe_url,
)
from trialwatch.services.subscriptions import find_by_token
from trialwatch.store.db import make_engine, make_sessionmaker, session_scope
from trialwatch.store.models import Subscriber


def _unsubscribe_link(output: str) -> str:
    links = set(re.findall(r"https?://\S+/unsubscribe/[A-Za-z0-9_.-]+", output))
    assert len(links) == 1, output
    return str(links.pop())


def test_digest_from_two_working_folders_signs_with_one_key(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    fake: FakeCtgov,
    tmp_path: Path,
) -> None:
    """Without a configured key, `digest` run from two folders makes one key; links agree."""
    data_home = tmp_path / "data-home"
    for key, value in {
        "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
        "TRIALWATCH_DATABASE_URL": database_url,
        "TRIALWATCH_API_URL": fake.base_url,
        "TRIALWATCH_REQUESTS_PER_MINUTE": "0",
        "TRIALWATCH_LOG_FORMAT": "text",
        "XDG_DATA_HOME": str(data_home),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRIALWATCH_SECRET_KEY", raising=False)
    monkeypatch.delenv("TRIALWATCH_STATE_DIR", raising=False)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    assert run_cli(capsys, "init")[0] == 0
    assert run_cli(capsys, "sync", "mmn")[0] == 0
    code, _, err = run_cli(
        capsys, "subscriber", "add", "ana@example.org", "-w", "mmn", "--frequency", "immediate"
    )
    assert code == 0, err
    change_status(fake, "NCT05225675", "COMPLETED", "2026-11-28")
    assert run_cli(capsys, "sync", "mmn")[0] == 0

    links = []
    for folder in (first, second):
        monkeypatch.chdir(folder)
        code, out, err = run_cli(capsys, "digest", "--preview", "ana@example.org")
        assert code == 0, err
        links.append(_unsubscribe_link(out))
    assert links[0] == links[1]
    assert not (first / SECRET_FILE_NAME).exists()
    assert not (second / SECRET_FILE_NAME).exists()

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        key_file = Path(url.database).parent / SECRET_FILE_NAME
    else:
        key_file = data_home / "trialwatch" / SECRET_FILE_NAME
    assert key_file.is_file()
    engine = make_engine(database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            token = links[0].rpartition("/")[2]
            found = find_by_token(session, key_file.read_text().strip(), token)
            assert found is not None
            assert found.email == "ana@example.org"
    finally:
        engine.dispose()


def _state_key_file(database_url: str, data_home: Path) -> Path:
    """Where the generated key lives by default: beside a SQLite file, else the data home."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        return Path(url.database).parent / SECRET_FILE_NAME
    return data_home / "trialwatch" / SECRET_FILE_NAME


def test_an_old_key_in_the_working_folder_moves_to_the_state_folder(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    fake: FakeCtgov,
    tmp_path: Path,
) -> None:
    """An install upgraded from keeping the key in the working folder keeps its key.

    The key file is moved into the state folder (with a log line), so every
    unsubscribe link already mailed still works; no new key is made.
    """
    data_home = tmp_path / "data-home"
    for key, value in {
        "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
        "TRIALWATCH_DATABASE_URL": database_url,
        "TRIALWATCH_API_URL": fake.base_url,
        "TRIALWATCH_REQUESTS_PER_MINUTE": "0",
        "TRIALWATCH_LOG_FORMAT": "text",
        "XDG_DATA_HOME": str(data_home),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRIALWATCH_SECRET_KEY", raising=False)
    monkeypatch.delenv("TRIALWATCH_STATE_DIR", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    old_key = secrets.token_urlsafe(32)
    (work / SECRET_FILE_NAME).write_text(old_key + "\n")
    (work / SECRET_FILE_NAME).chmod(0o600)
    monkeypatch.chdir(work)
    assert run_cli(capsys, "init")[0] == 0
    assert run_cli(capsys, "sync", "mmn")[0] == 0
    code, _, err = run_cli(
        capsys, "subscriber", "add", "ana@example.org", "-w", "mmn", "--frequency", "immediate"
    )
    assert code == 0, err
    engine = make_engine(database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            found = session.scalars(select(Subscriber.token)).one()
    finally:
        engine.dispose()
    mailed = unsubscribe_url("http://localhost:8000", make_unsubscribe_token(old_key, found))
    change_status(fake, "NCT05225675", "COMPLETED", "2026-11-28")
    assert run_cli(capsys, "sync", "mmn")[0] == 0

    code, out, err = run_cli(capsys, "digest", "--preview", "ana@example.org")
    assert code == 0, err
    assert _unsubscribe_link(out) == mailed
    key_file = _state_key_file(database_url, data_home)
    assert key_file.read_text().strip() == old_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not (work / SECRET_FILE_NAME).exists()
    assert f"secret key moved from={work / SECRET_FILE_NAME} to={key_file}" in err
    assert old_key not in out + err


def test_the_state_dir_defaults_to_the_folder_of_the_sqlite_database(tmp_path: Path) -> None:
    """sqlite:///DIR/x.db keeps its state in DIR, whatever the working folder."""
    settings = load_settings({"TRIALWATCH_DATABASE_URL": f"sqlite:///{tmp_path}/db/x.db"})
    assert settings.state_dir == tmp_path / "db"


def test_a_relative_sqlite_database_keeps_state_beside_it_as_an_absolute_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """sqlite:///data/x.db: the state folder is the database's folder, made absolute."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings({"TRIALWATCH_DATABASE_URL": "sqlite:///data/x.db"})
    assert settings.state_dir == tmp_path / "data"


def test_the_state_dir_of_a_server_database_is_the_user_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """PostgreSQL (or in-memory SQLite): $XDG_DATA_HOME/trialwatch, else ~/.local/share."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    for url in ("postgresql://tw@db/tw", "sqlite://", "sqlite:///:memory:"):
        settings = load_settings({"TRIALWATCH_DATABASE_URL": url})
        assert settings.state_dir == tmp_path / "xdg" / "trialwatch", url
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    settings = load_settings({"TRIALWATCH_DATABASE_URL": "postgresql://tw@db/tw"})
    assert settings.state_dir == tmp_path / "home" / ".local" / "share" / "trialwatch"


def test_trialwatch_state_dir_overrides_the_default(tmp_path: Path) -> None:
    """TRIALWATCH_STATE_DIR names the folder; empty means the default."""
    db = f"sqlite:///{tmp_path}/x.db"
    settings = load_settings(
        {"TRIALWATCH_DATABASE_URL": db, "TRIALWATCH_STATE_DIR": str(tmp_path / "state")}
    )
    assert settings.state_dir == tmp_path / "state"
    settings = load_settings({"TRIALWATCH_DATABASE_URL": db, "TRIALWATCH_STATE_DIR": ""})
    assert settings.state_dir == tmp_path


def test_a_relative_state_dir_in_the_config_file_is_relative_to_the_file(tmp_path: Path) -> None:
    """state_dir = "state" in config/trialwatch.toml means config/state."""
    config = tmp_path / "config" / "trialwatch.toml"
    config.parent.mkdir()
    config.write_text('state_dir = "state"\n')
    settings = load_settings({"TRIALWATCH_CONFIG": str(config)})
    assert settings.state_dir == tmp_path / "config" / "state"


@pytest.mark.parametrize("key", ["s3cret", "x" * 31])
def test_a_secret_key_shorter_than_32_bytes_is_refused_at_start_up(key: str) -> None:
    """A short TRIALWATCH_SECRET_KEY is a ConfigError naming the setting and the minimum."""
    with pytest.raises(ConfigError, match=r"TRIALWATCH_SECRET_KEY.*32 bytes") as info:
        load_settings({"TRIALWATCH_SECRET_KEY": key})
    assert key not in str(info.value)


def test_a_secret_key_of_32_bytes_is_accepted() -> None:
    """32 bytes is enough."""
    assert load_settings({"TRIALWATCH_SECRET_KEY": "k" * 32}).secret_key == "k" * 32


def _old_key(folder: Path, key: str, mode: int = 0o600) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SECRET_FILE_NAME
    path.write_text(key + "\n")
    path.chmod(mode)
    return path


def test_a_key_already_in_the_state_folder_wins_over_an_old_one(tmp_path: Path) -> None:
    """Once the state folder has a key, a stray old one is neither read nor removed."""
    old = _old_key(tmp_path / "work", "o" * 43)
    _old_key(tmp_path / "state", "s" * 43)
    assert resolve_secret("", tmp_path / "state", old_dir=tmp_path / "work") == "s" * 43
    assert old.read_text().strip() == "o" * 43


def test_an_old_key_others_can_read_is_refused_not_moved(tmp_path: Path) -> None:
    """An old key file open to others is a ConfigError naming it; nothing is moved or made."""
    old = _old_key(tmp_path / "work", "o" * 43, mode=0o644)
    with pytest.raises(ConfigError, match="chmod 600") as info:
        resolve_secret("", tmp_path / "state", old_dir=tmp_path / "work")
    assert str(old) in str(info.value)
    assert old.is_file()
    assert not (tmp_path / "state" / SECRET_FILE_NAME).exists()


def test_a_working_folder_that_is_the_state_folder_keeps_its_key(tmp_path: Path) -> None:
    """The default SQLite install (database in the working folder) reads its key in place."""
    path = _old_key(tmp_path, "k" * 43)
    assert resolve_secret("", tmp_path, old_dir=tmp_path) == "k" * 43
    assert path.read_text().strip() == "k" * 43
