"""Bad input and a bad environment: one line naming what and where, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from tests.support.cli import ROOT, assert_one_line_error, run_cli
from trialwatch.jobs import runner
from trialwatch.store import watchlists as watchlist_store


@pytest.fixture
def synced(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "init")[0] == 0
    assert run_cli(capsys, "sync", "mmn")[0] == 0


@pytest.mark.usefixtures("synced")
@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["changes", "--since", "99999999d"], "--since: '99999999d'"),
        (["changes", "--since", "99999999999w"], "--since: '99999999999w'"),
        (["outbox", "--purge-sent-before", "99999999d"], "--purge-sent-before: '99999999d'"),
    ],
)
def test_a_duration_beyond_the_calendar_is_one_line_naming_the_option(
    capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    """An overflowing duration exits 2 naming the option, not with an OverflowError."""
    assert_one_line_error(run_cli(capsys, *args), 2, option)


@pytest.mark.usefixtures("synced")
@pytest.mark.parametrize(
    "versions",
    [["99999999999999999999", "1"], ["1", "99999999999999999999"], ["-5", "1"]],
)
def test_diff_of_a_version_out_of_range_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], versions: list[str]
) -> None:
    """A version number no study can have is named, on SQLite and PostgreSQL alike."""
    assert_one_line_error(
        run_cli(capsys, "diff", "NCT05225675", "--", *versions), 2, "NCT05225675 has no version"
    )


@pytest.mark.usefixtures("synced")
def test_export_to_a_missing_folder_names_the_path_and_leaves_no_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """export -o into a folder that does not exist is one line; nothing is written."""
    target = tmp_path / "nonexistent" / "dir" / "x.csv"
    line = assert_one_line_error(run_cli(capsys, "export", "-o", str(target)), 2, str(target))
    assert "does not exist" in line
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.usefixtures("synced")
def test_a_read_only_database_is_one_line_naming_it_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """Writing to a read-only database exits 1 naming the database; reading still works."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        read_only = f"sqlite:///file:{url.database}?mode=ro&uri=true"
    else:
        read_only = url.update_query_dict(
            {"options": "-c default_transaction_read_only=on"}
        ).render_as_string(hide_password=False)
    monkeypatch.setenv("TRIALWATCH_DATABASE_URL", read_only)
    code, out, err = run_cli(capsys, "watchlist", "list", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["slug"] == "mmn"
    result = run_cli(capsys, "subscriber", "add", "ana@example.org", "-w", "mmn")
    line = assert_one_line_error(result, 1, "read-only")
    assert str(url.database) in line


@pytest.mark.usefixtures("bare_env")
@pytest.mark.parametrize("command", [["changes"], ["watchlist", "list"], ["export"]])
def test_a_read_only_command_never_creates_a_missing_sqlite_file(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: list[str],
) -> None:
    """A missing database file is named, and not created empty, by commands that only read."""
    path = tmp_path / "missing.db"
    monkeypatch.setenv("TRIALWATCH_DATABASE_URL", f"sqlite:///{path}")
    line = assert_one_line_error(run_cli(capsys, *command), 2, str(path))
    assert "trialwatch init" in line
    assert not path.exists()


@pytest.mark.usefixtures("bare_env")
@pytest.mark.parametrize("command", [["init"], ["changes"], ["subscriber", "list"]])
def test_a_sqlite_path_in_a_missing_folder_names_the_folder(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: list[str],
) -> None:
    """A database URL pointing into a folder that does not exist says so."""
    folder = tmp_path / "no" / "such"
    monkeypatch.setenv("TRIALWATCH_DATABASE_URL", f"sqlite:///{folder}/trialwatch.db")
    line = assert_one_line_error(run_cli(capsys, *command), 2, str(folder))
    assert "folder" in line
    assert not (tmp_path / "no").exists()


@pytest.mark.usefixtures("bare_env")
def test_init_creates_a_missing_sqlite_file_in_an_existing_folder(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """init may create the database file; the commands then find it."""
    path = tmp_path / "new.db"
    monkeypatch.setenv("TRIALWATCH_DATABASE_URL", f"sqlite:///{path}")
    code, _, err = run_cli(capsys, "init")
    assert code == 0, err
    assert path.is_file()
    assert run_cli(capsys, "changes")[0] == 0


@pytest.mark.usefixtures("bare_env")
def test_a_config_file_that_is_not_utf8_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A Latin-1 TRIALWATCH_CONFIG exits 2 naming the file."""
    config = tmp_path / "tw.toml"
    config.write_bytes("# Réglages\npage_size = 100\n".encode("latin-1"))
    monkeypatch.setenv("TRIALWATCH_CONFIG", str(config))
    line = assert_one_line_error(run_cli(capsys, "watchlist", "list"), 2, str(config))
    assert "UTF-8" in line


@pytest.mark.usefixtures("bare_env")
def test_a_watchlist_file_that_is_not_utf8_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A Latin-1 watchlist file makes init exit 2 naming the file."""
    folder = tmp_path / "watchlists"
    folder.mkdir()
    text = (ROOT / "config" / "watchlists" / "mmn.toml").read_text(encoding="utf-8")
    bad = folder / "mmn.toml"
    bad.write_bytes(text.replace("Multifocal", "Multifocal é").encode("latin-1"))
    monkeypatch.setenv("TRIALWATCH_WATCHLISTS_DIR", str(folder))
    line = assert_one_line_error(run_cli(capsys, "init"), 2, str(bad))
    assert "UTF-8" in line


@pytest.mark.usefixtures("synced")
def test_a_database_error_that_escapes_a_command_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last line of defence: any SQLAlchemy error becomes 'error: database: ...'."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint failed: x.y\nmore"))

    monkeypatch.setattr(watchlist_store, "list_watchlists", broken)
    line = assert_one_line_error(run_cli(capsys, "watchlist", "list"), 1, "error: database: ")
    assert "UNIQUE constraint failed: x.y" in line


@pytest.mark.usefixtures("synced")
def test_a_database_error_outside_any_session_is_caught_by_main(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An OperationalError raised by a job on its own engine is still one line, exit 1."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("UPDATE ...", {}, Exception("disk I/O error"))

    monkeypatch.setattr(runner, "sync_watchlists", broken)
    line = assert_one_line_error(run_cli(capsys, "sync", "mmn"), 1, "error: database: ")
    assert "disk I/O error" in line
