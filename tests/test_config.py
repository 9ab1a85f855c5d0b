"""Settings: TOML file, environment overrides, secrets in files, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from trialwatch import config
from trialwatch.config import DEFAULT_API_URL, load_settings
from trialwatch.errors import ConfigError
from trialwatch.registries import ctgov


def test_it_has_working_defaults_without_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no config file the database is a SQLite file in the working folder."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.database_url == "sqlite:///trialwatch.db"
    assert settings.api_url == DEFAULT_API_URL
    assert settings.config_file is None


def test_the_default_api_url_is_the_clients_own_and_config_imports_no_adapter() -> None:
    """One default for both: config owns it without importing the registry adapter."""
    assert DEFAULT_API_URL == ctgov.DEFAULT_API_URL
    source = Path(config.__file__).read_text(encoding="utf-8")
    assert "trialwatch.registries" not in source


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    """TRIALWATCH_* variables win over the TOML file; paths are relative to the file."""
    config = tmp_path / "tw.toml"
    config.write_text('api_url = "http://file.example/api/v2/"\npage_size = 50\n')
    settings = load_settings({"TRIALWATCH_CONFIG": str(config), "TRIALWATCH_PAGE_SIZE": "200"})
    assert settings.api_url == "http://file.example/api/v2"
    assert settings.page_size == 200
    assert settings.watchlists_dir == tmp_path / "watchlists"


def test_it_reads_secrets_from_files(tmp_path: Path) -> None:
    """TRIALWATCH_SECRET_KEY_FILE supplies the secret key."""
    secret = tmp_path / "key"
    secret.write_text("s3cret-from-a-file-at-least-32-bytes\n")
    settings = load_settings({"TRIALWATCH_SECRET_KEY_FILE": str(secret)})
    assert settings.secret_key == "s3cret-from-a-file-at-least-32-bytes"


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"TRIALWATCH_PAGE_SIZE": "5000"}, "TRIALWATCH_PAGE_SIZE: Input should be less than"),
        ({"TRIALWATCH_API_URL": "ftp://x"}, "TRIALWATCH_API_URL: must start"),
        ({"TRIALWATCH_CONFIG": "/nonexistent/tw.toml"}, "config file not found"),
    ],
)
def test_it_rejects_bad_values_in_one_line(environ: dict[str, str], fragment: str) -> None:
    """A bad setting names where it came from."""
    with pytest.raises(ConfigError) as info:
        load_settings(environ)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_it_names_the_file_for_bad_toml(tmp_path: Path) -> None:
    """Unknown keys and bad values in the file name the file and the key."""
    config = tmp_path / "tw.toml"
    config.write_text("colour = 1\n")
    with pytest.raises(ConfigError, match=f"{config}: colour: unknown setting"):
        load_settings({"TRIALWATCH_CONFIG": str(config)})
    config.write_text("page_size = 0\n")
    with pytest.raises(ConfigError, match=f"{config}: page_size: Input should be greater"):
        load_settings({"TRIALWATCH_CONFIG": str(config)})


def test_it_names_the_file_and_line_of_a_config_that_is_not_utf8(tmp_path: Path) -> None:
    """A Latin-1 config file is one ConfigError naming the file, the line and UTF-8."""
    config = tmp_path / "tw.toml"
    config.write_bytes("page_size = 100\n# Réglages\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_settings({"TRIALWATCH_CONFIG": str(config)})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{config}: line 2: not UTF-8 text")


def test_a_secret_file_that_is_not_utf8_is_one_line_naming_it(tmp_path: Path) -> None:
    """A binary TRIALWATCH_SECRET_KEY_FILE is a ConfigError naming the variable and the file."""
    secret = tmp_path / "key"
    secret.write_bytes(b"\xff\xfe" + b"k" * 40)
    with pytest.raises(ConfigError, match=r"TRIALWATCH_SECRET_KEY_FILE: .*key.*not UTF-8"):
        load_settings({"TRIALWATCH_SECRET_KEY_FILE": str(secret)})
